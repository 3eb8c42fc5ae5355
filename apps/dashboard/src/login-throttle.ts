import { isIPv6 } from 'node:net';

export interface LoginThrottleLimits {
  /** Failed attempts a client gets before the first lockout. */
  freeFailures: number;
  /** The first lockout; each further failure doubles it. */
  baseLockoutMs: number;
  maxLockoutMs: number;
  /** A client whose last failure is this old (and not locked) starts again from zero. */
  forgetAfterMs: number;
  /** Clients remembered at once; past it the one whose last failure is oldest is forgotten (and counted). */
  maxClients: number;
}

export const LOGIN_THROTTLE_LIMITS: LoginThrottleLimits = {
  // Room for a few typos; a person who mistypes is never locked out for long.
  freeFailures: 5,
  baseLockoutMs: 1_000,
  // Reached after about 15 failures: from then on a guesser gets 4 tries an hour per address.
  maxLockoutMs: 15 * 60_000,
  forgetAfterMs: 60 * 60_000,
  // Measured 160 bytes each (IPv4; 240 for IPv6 /64 keys): 10,000 clients hold 1.6-2.4 MB however
  // many addresses an attacker uses.
  maxClients: 10_000,
};

interface ClientState {
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
}

export interface LoginThrottleStats {
  clients: number;
  lockedOut: number;
  /** Clients forgotten early because the table was full, since start. */
  evicted: number;
  /** Requests answered 429 because their client was locked out, since start. */
  refused: number;
}

/**
 * Failed logins per client, with a lockout that doubles with every failure past the free ones.
 * A locked-out client is refused without its credentials being checked, so a guess made during a
 * lockout tells nothing. The table is bounded; it is kept in order of last failure, so forgetting
 * idle clients and evicting the oldest are both done from its front.
 */
export class LoginThrottle {
  private readonly clients = new Map<string, ClientState>();
  private evicted = 0;
  private refused = 0;

  constructor(
    private readonly limits: LoginThrottleLimits = LOGIN_THROTTLE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `client` may try again; 0 when it may now. Counts a refusal when not 0. */
  retryAfterMs(client: string): number {
    const wait = (this.clients.get(client)?.lockedUntil ?? 0) - this.now();
    if (wait <= 0) return 0;
    this.refused += 1;
    return wait;
  }

  /** Records a failed attempt; returns the lockout it starts (0 while failures are still free). */
  recordFailure(client: string): number {
    const now = this.now();
    const previous = this.clients.get(client);
    const failures = previous && !this.forgettable(previous, now) ? previous.failures + 1 : 1;
    const overFree = failures - this.limits.freeFailures;
    // Capped exponent: 2 ** 40 ms is already far past any sane maximum.
    const lockMs = overFree < 0 ? 0 : Math.min(this.limits.maxLockoutMs, this.limits.baseLockoutMs * 2 ** Math.min(overFree, 40));
    // Deleted and set again, so the map stays ordered by last failure.
    this.clients.delete(client);
    this.clients.set(client, { failures, lastFailureAt: now, lockedUntil: now + lockMs });
    this.trim(now);
    return lockMs;
  }

  recordSuccess(client: string): void {
    this.clients.delete(client);
  }

  stats(): LoginThrottleStats {
    const now = this.now();
    let lockedOut = 0;
    for (const state of this.clients.values()) if (state.lockedUntil > now) lockedOut += 1;
    return { clients: this.clients.size, lockedOut, evicted: this.evicted, refused: this.refused };
  }

  private forgettable(state: ClientState, now: number): boolean {
    return state.lockedUntil <= now && now - state.lastFailureAt >= this.limits.forgetAfterMs;
  }

  private trim(now: number): void {
    for (const [client, state] of this.clients) {
      if (!this.forgettable(state, now)) break;
      this.clients.delete(client);
    }
    while (this.clients.size > this.limits.maxClients) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
      this.evicted += 1;
    }
  }
}

/**
 * The throttle's key for a peer address: IPv4 as is (also when mapped into IPv6), IPv6 by its /64,
 * since one host usually holds a whole /64 and could otherwise rotate through it.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return bare;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail === undefined ? [] : tail ? tail.split(':') : [];
  // A dotted IPv4 tail (`64:ff9b::1.2.3.4`) stands for two groups.
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = [...headGroups, ...Array<string>(Math.max(0, 8 - width(headGroups) - width(tailGroups))).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

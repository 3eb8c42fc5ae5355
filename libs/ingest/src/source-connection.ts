import type { SourceConnectionState, SourceStatus } from '@tickvault/queue';

// A close reason is provider text (a socket error, an HTTP status line): kept short in the registry.
const MAX_REASON_CHARS = 300;

/**
 * The connection state of one source in this process, as the source reports it (StreamContext
 * onConnected / onDisconnected) and as the runner drives it (streaming some symbols or none):
 *
 *   idle ──stream──▶ connecting ──connected──▶ connected ──lost──▶ reconnecting ──connected──▶ connected
 *                        └──────────failed─────────────────────────────▲
 *
 * `since` is when the current state began; a failed attempt while already connecting or reconnecting
 * keeps it, so "reconnecting since" is how long the provider has been out of reach, not the age of
 * the latest attempt. Messages (trades, bars, refused frames) only move `lastMessageAt`: a quiet
 * market is not a lost connection.
 */
export class SourceConnection {
  private state: SourceConnectionState = 'idle';
  private since = Date.now();
  private reason: string | null = null;
  private lastMessageAt: number | null = null;

  constructor(
    readonly source: string,
    private readonly onChange: () => void = () => {},
  ) {}

  /** The runner starts a stream for some symbols. A restart while connected (new symbols) is not an outage. */
  streaming(): void {
    if (this.state === 'idle') this.move('connecting', null);
  }

  /** The runner holds no symbols of this source (another replica has them all). */
  idle(): void {
    this.move('idle', null);
  }

  connected(): void {
    this.move('connected', null);
  }

  disconnected(reason: string): void {
    const short = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 3)}...` : reason;
    if (this.state === 'connecting' || this.state === 'reconnecting') {
      // Still out of reach: the outage began with the first failure; only the reason may be news.
      if (short !== this.reason) {
        this.reason = short;
        this.onChange();
      }
      return;
    }
    this.move('reconnecting', short);
  }

  message(at = Date.now()): void {
    this.lastMessageAt = at;
  }

  status(symbols: readonly string[]): SourceStatus {
    return {
      source: this.source,
      state: this.state,
      since: new Date(this.since).toISOString(),
      reason: this.reason,
      lastMessageAt: this.lastMessageAt === null ? null : new Date(this.lastMessageAt).toISOString(),
      symbols: [...symbols],
    };
  }

  /** Figures for the metrics, at `now`. */
  gauges(now = Date.now()): { connected: 0 | 1; disconnectedSeconds: number; lastMessageAgeSeconds: number | null } {
    const out = this.state === 'connecting' || this.state === 'reconnecting';
    return {
      connected: this.state === 'connected' ? 1 : 0,
      // Idle is no outage: nothing to connect for.
      disconnectedSeconds: out ? Math.max(0, (now - this.since) / 1000) : 0,
      lastMessageAgeSeconds: this.lastMessageAt === null ? null : Math.max(0, (now - this.lastMessageAt) / 1000),
    };
  }

  private move(state: SourceConnectionState, reason: string | null): void {
    if (state === this.state) return;
    this.state = state;
    this.since = Date.now();
    this.reason = reason;
    this.onChange();
  }
}

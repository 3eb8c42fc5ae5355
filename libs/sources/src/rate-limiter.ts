import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What a provider's REST client asks before each request. The in-process token bucket below is
 * one implementation; a limiter shared by every replica behind one IP (Redis) can replace it
 * without touching the client.
 */
export interface RequestWeightLimiter {
  /** Resolves once `weight` may be spent (rejects when the signal aborts). */
  acquire(weight: number, signal?: AbortSignal): Promise<void>;
  /** The server said stop (429/418 with Retry-After): no request of this limiter before `untilMs`. */
  pauseUntil(untilMs: number): void;
  /** The server's own count of weight used in its current minute (`X-MBX-USED-WEIGHT-1M`). */
  reportUsed(used: number, at?: number): void;
}

export interface TokenBucketOptions {
  /** Budget per minute (Binance REQUEST_WEIGHT: 6000 per IP). */
  weightPerMinute: number;
  /** Keep this share of the budget unused as a margin for clocks and other clients (default 0.1). */
  reserve?: number;
  now?: () => number;
}

/**
 * A token bucket refilled continuously at `weightPerMinute`, holding at most one minute of weight.
 * Waiters are served in order. A `pauseUntil` stops everyone; a server count near the limit drains
 * the bucket to what the server says is left of its minute, so other clients on the same IP are
 * accounted for.
 */
export class TokenBucketLimiter implements RequestWeightLimiter {
  private tokens: number;
  private updatedAt: number;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly capacity: number;
  private readonly ratePerMs: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenBucketOptions) {
    this.now = options.now ?? Date.now;
    this.capacity = Math.max(1, Math.floor(options.weightPerMinute * (1 - (options.reserve ?? 0.1))));
    this.ratePerMs = this.capacity / 60_000;
    this.tokens = this.capacity;
    this.updatedAt = this.now();
  }

  acquire(weight: number, signal?: AbortSignal): Promise<void> {
    const cost = Math.min(weight, this.capacity);
    const turn = this.queue.then(() => this.waitFor(cost, signal));
    // The next waiter starts after this one, whether it got its weight or was aborted.
    this.queue = turn.catch(() => {});
    return turn;
  }

  pauseUntil(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
  }

  reportUsed(used: number, at: number = this.now()): void {
    if (!Number.isFinite(used) || used < 0) return;
    this.refill(at);
    // The server counts per calendar minute; what it has left for this minute (less our reserve)
    // bounds what we spend, so weight used by other clients on the same IP slows us down too.
    const left = this.capacity - used;
    if (left < this.tokens) this.tokens = Math.max(left, -this.capacity);
  }

  /** For tests and logs. */
  available(): number {
    this.refill(this.now());
    return this.tokens;
  }

  private refill(at: number): void {
    if (at > this.updatedAt) {
      this.tokens = Math.min(this.capacity, this.tokens + (at - this.updatedAt) * this.ratePerMs);
      this.updatedAt = at;
    }
  }

  private async waitFor(cost: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.now();
      if (now < this.pausedUntil) {
        await sleep(this.pausedUntil - now, undefined, { signal });
        continue;
      }
      this.refill(now);
      if (this.tokens >= cost) {
        this.tokens -= cost;
        return;
      }
      await sleep(Math.max(1, Math.ceil((cost - this.tokens) / this.ratePerMs)), undefined, { signal });
    }
  }
}

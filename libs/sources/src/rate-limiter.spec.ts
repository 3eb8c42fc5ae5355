import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { TokenBucketLimiter } from './rate-limiter.js';

describe('backoff', () => {
  it('doubles from the first delay with jitter, capped', () => {
    const low = () => 0;
    const high = () => 1;
    expect(backoffDelay(0, 500, 30_000, low)).toBe(250);
    expect(backoffDelay(0, 500, 30_000, high)).toBe(500);
    expect(backoffDelay(3, 500, 30_000, high)).toBe(4000);
    expect(backoffDelay(10, 500, 30_000, high)).toBe(30_000);
    expect(backoffDelay(10, 500, 30_000, low)).toBe(15_000);
    expect(backoffDelay(1000, 500, 30_000, high)).toBe(30_000);
  });
});

describe('TokenBucketLimiter', () => {
  it('spends up to the budget at once, then refills at the per-minute rate', async () => {
    // 6000/min with a 10% reserve: 5400 at once, then 90 per second.
    const limiter = new TokenBucketLimiter({ weightPerMinute: 6000 });
    const started = Date.now();
    for (let i = 0; i < 216; i++) await limiter.acquire(25); // 5400
    expect(Date.now() - started).toBeLessThan(100);
    await limiter.acquire(45); // half a second of refill
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('pauses every waiter until a Retry-After has passed', async () => {
    const limiter = new TokenBucketLimiter({ weightPerMinute: 6000 });
    limiter.pauseUntil(Date.now() + 300);
    const started = Date.now();
    await Promise.all([limiter.acquire(1), limiter.acquire(1)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('slows down when the server reports the minute nearly used (other clients on the IP)', async () => {
    const limiter = new TokenBucketLimiter({ weightPerMinute: 6000 });
    limiter.reportUsed(5390); // 10 left of our 5400
    expect(limiter.available()).toBeLessThanOrEqual(10.5);
    const started = Date.now();
    await limiter.acquire(55); // needs ~0.5 s of refill
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    limiter.reportUsed(10); // a low count never adds tokens
    expect(limiter.available()).toBeLessThan(100);
  });

  it('stops waiting when its signal aborts', async () => {
    const limiter = new TokenBucketLimiter({ weightPerMinute: 60 });
    await limiter.acquire(54);
    const stop = new AbortController();
    const waiting = limiter.acquire(50, stop.signal);
    stop.abort();
    await expect(waiting).rejects.toThrow();
  });
});

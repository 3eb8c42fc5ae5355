import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '@tickvault/queue';
import { errorMessage, type Logger } from '@tickvault/runtime';
import { TokenBucketLimiter, type RequestWeightLimiter } from '@tickvault/sources';

/**
 * One token bucket in Redis, refilled on Redis's clock: every replica behind the same IP (or key)
 * spends from it, so N replicas together stay inside a provider's limit. Returns 0 when the weight
 * was taken, else how many ms to wait. KEYS[1] bucket hash, KEYS[2] pause marker.
 * ARGV: capacity, refill per ms, weight, [server-reported used weight or -1].
 */
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local used = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate) end
if used >= 0 then
  local left = capacity - used
  if left < tokens then tokens = math.max(left, -capacity) end
end
local wait = 0
if weight > 0 then
  if now < paused then
    wait = paused - now
  elseif tokens >= weight then
    tokens = tokens - weight
  else
    wait = math.ceil((weight - tokens) / rate)
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
return wait
`;

const FALLBACK_SHARE = 4;
// Sleep at most this long between tries, so a pause lifted early or tokens refilled are noticed soon.
const MAX_WAIT_SLICE_MS = 1000;

export class RedisTokenBucket implements RequestWeightLimiter {
  private readonly capacity: number;
  private readonly ratePerMs: number;
  private readonly bucketKey: string;
  private readonly pauseKey: string;
  /** Used while Redis cannot be reached: this replica alone then keeps to the whole budget. */
  private readonly fallback: TokenBucketLimiter;
  private warnedFallback = false;

  constructor(
    private readonly redis: RedisClient,
    options: { prefix: string; key: string; perMinute: number; reserve?: number; logger: Logger },
    private readonly logger = options.logger,
  ) {
    this.capacity = Math.max(1, Math.floor(options.perMinute * (1 - (options.reserve ?? 0.1))));
    this.ratePerMs = this.capacity / 60_000;
    this.bucketKey = `${options.prefix}:ratelimit:${options.key}`;
    this.pauseKey = `${this.bucketKey}:paused`;
    // Without Redis the replicas cannot see each other's spending: each keeps to a quarter of the budget,
    // so up to four replicas together stay inside the provider's limit (and the outbox holds data anyway).
    this.fallback = new TokenBucketLimiter({ weightPerMinute: Math.max(1, Math.floor(options.perMinute / FALLBACK_SHARE)), reserve: options.reserve });
  }

  async acquire(weight: number, signal?: AbortSignal): Promise<void> {
    const cost = Math.min(weight, this.capacity);
    for (;;) {
      signal?.throwIfAborted();
      let wait: number;
      try {
        wait = Number(await this.redis.eval(ACQUIRE_LUA, 2, this.bucketKey, this.pauseKey, this.capacity, this.ratePerMs, cost, -1));
      } catch (error) {
        if (!this.warnedFallback) {
          this.warnedFallback = true;
          this.logger.warn({ bucket: this.bucketKey, err: errorMessage(error) }, 'shared rate limit unreachable in Redis; this replica keeps to a quarter of the budget until it is back');
        }
        return this.fallback.acquire(weight, signal);
      }
      this.warnedFallback = false;
      if (wait <= 0) return;
      await sleep(Math.min(wait, MAX_WAIT_SLICE_MS), undefined, { signal });
    }
  }

  pauseUntil(untilMs: number): void {
    this.fallback.pauseUntil(untilMs);
    const ms = Math.ceil(untilMs - Date.now());
    if (ms <= 0) return;
    // The pause is wall-clock based; replicas' clocks differ by far less than a Retry-After.
    void this.redis
      .eval(
        `local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
         local t = redis.call('TIME')
         local target = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
         if target > cur then redis.call('SET', KEYS[1], tostring(target), 'PX', ARGV[1]) end
         return 0`,
        1,
        this.pauseKey,
        ms,
      )
      .catch(() => {});
  }

  reportUsed(used: number): void {
    this.fallback.reportUsed(used);
    if (!Number.isFinite(used) || used < 0) return;
    void this.redis.eval(ACQUIRE_LUA, 2, this.bucketKey, this.pauseKey, this.capacity, this.ratePerMs, 0, used).catch(() => {});
  }
}

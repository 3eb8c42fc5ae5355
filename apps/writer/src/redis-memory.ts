import { readRedisMemory, redisMemoryLevel, redisMemoryWarning, REDIS_MEMORY_WARN_RATIO, type RedisMemory, type RedisMemoryLevel, type RedisClient } from '@tickvault/queue';
import { errorMessage, type Logger, type Metrics } from '@tickvault/runtime';

// A high or full Redis is repeated this often while it lasts, so it is not one line lost in a scroll.
const REPEAT_WARNING_MS = 5 * 60_000;
// Back to ok only this far under the warning ratio, so a Redis hovering at the threshold does not flap.
const HYSTERESIS = 0.05;

export interface RedisMemoryWatchOptions {
  /** A fail-fast connection (no offline queue): a reading during an outage fails at once. */
  redis: RedisClient;
  logger: Logger;
  metrics: Pick<Metrics, 'redisMemoryUsed' | 'redisMaxmemory' | 'redisMemoryRatio'>;
  warnRatio?: number;
  /** Called when the level changes (the first reading included, with no previous level), e.g. to record a system event. */
  onLevelChange?: (level: RedisMemoryLevel, memory: RedisMemory, previous: RedisMemoryLevel | undefined) => void;
}

/**
 * Reads Redis memory against maxmemory (INFO memory, cheap), keeps the gauges current and says so in
 * the log when Redis nears the point where it refuses new jobs. Readiness is left alone on purpose:
 * this writer draining the queue is what frees the memory, a not-ready writer blocks a rollout that
 * may be the fix, and once Redis does refuse, the refusal check turns readiness 503 anyway.
 */
export class RedisMemoryWatch {
  private current: RedisMemoryLevel | undefined;
  private lastWarnedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private readonly warnRatio: number;

  constructor(private readonly options: RedisMemoryWatchOptions) {
    this.warnRatio = options.warnRatio ?? REDIS_MEMORY_WARN_RATIO;
  }

  get level(): RedisMemoryLevel | undefined {
    return this.current;
  }

  start(intervalMs: number): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One reading; undefined when Redis did not answer (its outage is reported elsewhere; the gauges keep their values). */
  async check(): Promise<RedisMemory | undefined> {
    if (this.reading) return undefined;
    this.reading = true;
    let memory: RedisMemory;
    try {
      memory = await readRedisMemory(this.options.redis);
    } catch (error) {
      this.options.logger.debug({ err: errorMessage(error) }, 'cannot read Redis memory');
      return undefined;
    } finally {
      this.reading = false;
    }
    const { metrics } = this.options;
    metrics.redisMemoryUsed.set(memory.usedBytes);
    metrics.redisMaxmemory.set(memory.maxBytes);
    metrics.redisMemoryRatio.set(memory.usedRatio ?? 0);
    this.report(memory);
    return memory;
  }

  private report(memory: RedisMemory): void {
    let level = redisMemoryLevel(memory, this.warnRatio);
    // Stay high until clearly under the threshold.
    if (level === 'ok' && (this.current === 'high' || this.current === 'full') && memory.usedRatio! >= this.warnRatio - HYSTERESIS) level = 'high';
    const changed = level !== this.current;
    const previous = this.current;
    this.current = level;
    const fields = { usedBytes: memory.usedBytes, maxBytes: memory.maxBytes, usedRatio: memory.usedRatio === null ? null : Number(memory.usedRatio.toFixed(3)) };
    const now = performance.now();
    if (level === 'ok') {
      if (changed && previous !== undefined) this.options.logger.info(fields, 'Redis memory back under the warning level');
    } else if (level === 'unlimited') {
      // A setting, not a state: once at startup (or when it changes) is enough.
      if (changed) this.options.logger.warn(fields, redisMemoryWarning(memory, level)!);
    } else if (changed || now - this.lastWarnedAt >= REPEAT_WARNING_MS) {
      this.lastWarnedAt = now;
      this.options.logger[level === 'full' ? 'error' : 'warn'](fields, redisMemoryWarning(memory, level)!);
    }
    if (changed) this.options.onLevelChange?.(level, memory, previous);
  }
}

import type { Worker } from 'bullmq';
import { backoffDelay, type Logger } from '@tickvault/runtime';

// Redis answers these while it refuses writes (out of memory under noeviction, a read-only replica
// after failover, failed persistence). BullMQ treats them as job-fetch errors and fetches again at
// once, so without a pause a worker would spin at thousands of calls a second until Redis recovers.
const REFUSAL = /^(OOM|READONLY|MISCONF|NOREPLICAS|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)\b/;
// An idle worker blocks up to BullMQ's drainDelay (5 s) before its next refused call: readiness stays
// false this long after the last refusal, not just during the pause.
const REFUSING_FOR_MS = 7_000;
// A refusal after this much quiet is a new episode: it starts again at the shortest pause.
const NEW_EPISODE_AFTER_MS = 30_000;

export function isRedisRefusal(error: unknown): boolean {
  return error instanceof Error && REFUSAL.test(error.message);
}

/**
 * Pauses the workers while Redis refuses writes, and resumes them after a backoff (0.5 s doubling to
 * 10 s while refusals continue); `canResume` lets the database gate keep them paused through a
 * Postgres outage. Waiting jobs stay in Redis; a job in flight whose completion Redis refused is
 * redone after its lock expires (writes are idempotent).
 */
export class RedisRefusalPause {
  private streak = 0;
  private lastRefusalAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly workers: () => readonly Worker[],
    private readonly logger: Logger,
    private readonly canResume: () => boolean = () => true,
  ) {}

  /** Watches one worker on its own (a service with a single worker and no database gate). */
  static watch(worker: Worker, logger: Logger): RedisRefusalPause {
    const refusal = new RedisRefusalPause(() => [worker], logger);
    worker.on('error', (error) => refusal.onError(error));
    worker.on('completed', () => refusal.onSuccess());
    worker.on('closing', () => refusal.stop());
    return refusal;
  }

  get refusing(): boolean {
    return this.timer !== undefined || performance.now() - this.lastRefusalAt < REFUSING_FOR_MS;
  }

  /** Call from a worker's `error` listener; returns whether the error was a refusal. */
  onError(error: unknown): boolean {
    if (!isRedisRefusal(error) || this.stopped) return false;
    const now = performance.now();
    if (now - this.lastRefusalAt > NEW_EPISODE_AFTER_MS) this.streak = 0;
    this.lastRefusalAt = now;
    if (this.timer) {
      // Something else (the database gate) resumed them meanwhile: hold them until the timer.
      for (const worker of this.workers()) if (!worker.isPaused()) void worker.pause(true).catch(() => {});
      return true;
    }
    this.streak++;
    const pauseMs = backoffDelay(this.streak, { initialMs: 500, maxMs: 10_000 });
    if (this.streak === 1) this.logger.error({ err: (error as Error).message.slice(0, 200) }, 'Redis refuses writes: pausing consumption; jobs stay queued');
    for (const worker of this.workers()) void worker.pause(true).catch(() => {});
    this.timer = setTimeout(() => this.resume(), pauseMs);
    this.timer.unref();
    return true;
  }

  /** A job completed: Redis takes writes again, so the next refusal starts a new streak. */
  onSuccess(): void {
    if (this.streak > 0 && !this.timer) {
      this.logger.info({ refusals: this.streak }, 'Redis takes writes again');
      this.streak = 0;
      this.lastRefusalAt = -Infinity;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private resume(): void {
    this.timer = undefined;
    if (this.stopped || !this.canResume()) return;
    for (const worker of this.workers()) worker.resume();
  }
}

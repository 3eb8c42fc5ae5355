import type { Worker } from 'bullmq';
import { backoffDelay, type Logger } from '@tickvault/runtime';

// Redis answers these while it refuses writes (out of memory under noeviction, a read-only replica
// after failover, failed persistence). BullMQ treats them as job-fetch errors and fetches again at
// once, so without a pause a worker would spin at thousands of calls a second until Redis recovers.
const REFUSAL = /^(OOM|READONLY|MISCONF|NOREPLICAS)\b/;

export function isRedisRefusal(error: unknown): boolean {
  return error instanceof Error && REFUSAL.test(error.message);
}

/**
 * Pauses the workers while Redis refuses writes, and resumes them after a backoff (0.5 s doubling to
 * 10 s while refusals continue); `canResume` lets the database gate keep them paused through a
 * Postgres outage. Jobs stay in Redis throughout: nothing is fetched, so nothing is lost.
 */
export class RedisRefusalPause {
  private streak = 0;
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
    return this.timer !== undefined;
  }

  /** Call from a worker's `error` listener; returns whether the error was a refusal. */
  onError(error: unknown): boolean {
    if (!isRedisRefusal(error) || this.stopped) return false;
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
    return true;
  }

  /** A job completed: Redis takes writes again, so the next refusal starts a new streak. */
  onSuccess(): void {
    if (this.streak > 0 && !this.timer) {
      this.logger.info({ refusals: this.streak }, 'Redis takes writes again');
      this.streak = 0;
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

import type { Bar, Tick } from '@tickvault/schema';
import { classifyDbError, isConnectionError, withDeadline, type RejectionRow, type TickBatch, type WriteResult } from '@tickvault/db';

export interface PendingWrite {
  jobKey: string;
  ticks: Tick[];
  bars?: Bar[];
  rejections: RejectionRow[];
}

export interface FlusherOptions {
  /** Flush as soon as this many ticks are waiting. */
  maxTicks: number;
  /** Longest the first waiting job waits for company before a flush starts. */
  maxWaitMs: number;
  /** Flushes allowed at once: a second one overlaps this process's work with the database's. */
  maxInFlight: number;
  /** A flush still pending after this long counts as a database outage (the driver has no deadline). */
  deadlineMs: number;
  write: (batch: TickBatch) => Promise<WriteResult>;
  /**
   * Whether the database answers and takes writes right now. A write that failed for a reason other
   * than its data while this says yes is stuck on something in the batch, not on an outage.
   * Without it every such failure counts as an outage.
   */
  probe?: () => Promise<boolean>;
  /** Called when a flush passes its deadline: stop whatever the abandoned transaction still runs. */
  onOverrun?: () => Promise<void>;
  onFlushed?: (info: { jobs: number; batch: TickBatch; result: WriteResult; ms: number }) => void;
  onFailed?: (info: { jobs: number; ms: number; error: unknown; verdict: FailureVerdict }) => void;
}

/**
 * Why a write failed. `data`: this data can never be written. `retry`: lost races beyond the retries.
 * `outage`: the database cannot take writes (the jobs wait without spending attempts). `stuck`: the
 * database answers and takes writes, yet this write failed (a statement timeout, the flush deadline):
 * something in the batch, so its jobs are written alone and the one that still fails spends an attempt.
 */
export type FailureVerdict = 'data' | 'retry' | 'outage' | 'stuck';

/**
 * A job whose write kept failing alone while the database answered. Not an outage: the job spends
 * an attempt and, after the last, lands in the failed set instead of circling the queue for ever.
 */
export class StuckWriteError extends Error {
  readonly code = 'STUCK_WRITE';
  constructor(cause: unknown) {
    super(`write failed while Postgres answers (spending an attempt): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

interface Waiter extends PendingWrite {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Open-source BullMQ has no batch consumption, so processors hand their ticks here and await
 * the flush: one transaction writes many jobs, and each job completes only after that commit.
 * A lost race (deadlock) is retried at once. A database outage rejects every job in the batch
 * (they wait in the queue). When a shared batch fails because of its data, or fails otherwise while
 * the database answers a probe (stuck), each job is written on its own, so one poisoned job cannot
 * keep the others from being stored; a job stuck alone fails with StuckWriteError.
 */
export class BatchFlusher {
  private waiting: Waiter[] = [];
  private waitingTicks = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: FlusherOptions) {}

  submit(write: PendingWrite): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ ...write, resolve, reject });
      this.waitingTicks += write.ticks.length + (write.bars?.length ?? 0);
      this.schedule();
    });
  }

  /** Writes whatever is waiting and resolves once nothing is in flight. */
  async drain(): Promise<void> {
    while (this.waiting.length > 0 || this.inFlight.size > 0) {
      if (this.waiting.length > 0 && this.inFlight.size < this.options.maxInFlight) this.startFlush();
      else await Promise.race(this.inFlight);
    }
  }

  private schedule(): void {
    if (this.inFlight.size >= this.options.maxInFlight) return; // a flush ending picks the rest up
    if (this.waitingTicks >= this.options.maxTicks) {
      this.startFlush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.startFlush(), this.options.maxWaitMs);
    }
  }

  private startFlush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight.size >= this.options.maxInFlight || this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    this.waitingTicks = 0;
    const flushing: Promise<void> = this.flush(batch).finally(() => {
      this.inFlight.delete(flushing);
      if (this.waiting.length > 0) this.schedule();
    });
    this.inFlight.add(flushing);
  }

  private async write(batch: TickBatch): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withDeadline(this.options.write(batch), this.options.deadlineMs, 'writer flush');
      } catch (error) {
        if ((error as { code?: unknown }).code === 'CLIENT_DEADLINE') await this.options.onOverrun?.().catch(() => {});
        if (classifyDbError(error) !== 'retry' || attempt >= MAX_RACE_RETRIES) throw error;
      }
    }
  }

  private async diagnose(error: unknown): Promise<FailureVerdict> {
    const kind = classifyDbError(error);
    if (kind !== 'outage') return kind;
    // A dropped connection says nothing about the batch; anything else is checked against a probe.
    if (isConnectionError(error) || !this.options.probe) return 'outage';
    return (await this.options.probe().catch(() => false)) ? 'stuck' : 'outage';
  }

  private async flush(batch: Waiter[]): Promise<void> {
    const started = performance.now();
    const merged = merge(batch);
    try {
      const result = await this.write(merged);
      this.options.onFlushed?.({ jobs: batch.length, batch: merged, result, ms: performance.now() - started });
      for (const w of batch) w.resolve();
    } catch (error) {
      const verdict = await this.diagnose(error);
      this.options.onFailed?.({ jobs: batch.length, ms: performance.now() - started, error, verdict });
      if (verdict === 'outage' || verdict === 'retry') {
        for (const w of batch) w.reject(error);
      } else if (batch.length === 1) {
        batch[0]!.reject(verdict === 'stuck' ? new StuckWriteError(error) : error);
      } else {
        await this.writeOneByOne(batch);
      }
    }
  }

  private async writeOneByOne(batch: Waiter[]): Promise<void> {
    for (const [i, w] of batch.entries()) {
      const single = merge([w]);
      const started = performance.now();
      try {
        const result = await this.write(single);
        this.options.onFlushed?.({ jobs: 1, batch: single, result, ms: performance.now() - started });
        w.resolve();
      } catch (error) {
        const verdict = await this.diagnose(error);
        this.options.onFailed?.({ jobs: 1, ms: performance.now() - started, error, verdict });
        if (verdict === 'outage') {
          // The rest would only wait for the same outage, one deadline each: they go back to the queue.
          for (const rest of batch.slice(i)) rest.reject(error);
          return;
        }
        w.reject(verdict === 'stuck' ? new StuckWriteError(error) : error);
      }
    }
  }
}

// Deadlocks between writers are rare and resolve on retry; more than this means something else is wrong.
const MAX_RACE_RETRIES = 3;

function merge(batch: readonly PendingWrite[]): TickBatch {
  return {
    ticks: batch.flatMap((w) => w.ticks),
    bars: batch.flatMap((w) => w.bars ?? []),
    rejections: batch.flatMap((w) => w.rejections),
  };
}

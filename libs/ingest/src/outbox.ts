import { randomUUID } from 'node:crypto';
import type { SystemEvent, TickBatchJob } from '@tickvault/schema';
import { backoffDelay, errorMessage, type Logger } from '@tickvault/runtime';

/**
 * A job with the id it keeps across resends: BullMQ ignores an add whose id it already has, so a
 * send that timed out but reached Redis is not queued twice, and the writer's keys stay unique.
 */
export interface OutgoingJob<T> {
  id: string;
  data: T;
  /** Order of pushing, for callers that wait until what they pushed is in Redis. */
  seq?: number;
}

export interface OutboxTargets {
  sendTicks(jobs: OutgoingJob<TickBatchJob>[]): Promise<void>;
  sendEvents(events: OutgoingJob<SystemEvent>[]): Promise<void>;
  /** Called once Redis holds these jobs: only then is their data safe from this process dying. */
  onDelivered?(jobs: readonly TickBatchJob[]): void;
}

export interface OutboxStats {
  bufferedTicks: number;
  /** Estimated serialized size of everything buffered: ticks, bars, rejections with their samples. */
  bufferedBytes: number;
  bufferedJobs: number;
  droppedTicks: number;
  /** Rejection records (input already refused) dropped to keep the buffer under its byte bound. */
  droppedRejections: number;
  sentJobs: number;
  sendFailures: number;
}

export interface OutboxLimits {
  /** Ticks and bars held while Redis is unreachable. */
  maxTicks: number;
  /** Estimated serialized bytes held (see `estimateJobBytes`): what bounds the heap, whatever the jobs carry. */
  maxBytes: number;
}

/**
 * Memory allowed per tick of INGEST_BUFFER_MAX_TICKS. A validated tick measures ~155 bytes as JSON and
 * ~190 on the heap, so a buffer of ticks meets the tick bound first; rejections (up to ~3 KB each with
 * their sample) meet this one, which keeps the heap near 1.2 × maxBytes at most.
 */
export const BUFFER_BYTES_PER_TICK = 256;

export function outboxLimits(maxTicks: number): OutboxLimits {
  return { maxTicks, maxBytes: maxTicks * BUFFER_BYTES_PER_TICK };
}

interface BufferedJob extends OutgoingJob<TickBatchJob> {
  bytes: number;
}

// BullMQ's guidance: addBulk in batches of hundreds of jobs; larger calls risk Redis timeouts.
const JOBS_PER_ADD_BULK = 100;
const MAX_BUFFERED_EVENTS = 1000;
// Dropping rejections can happen on every push during a flood of bad input: one line per interval, with counts.
const REJECTION_DROP_LOG_INTERVAL_MS = 5_000;

/**
 * Holds jobs until Redis has taken them. While Redis is unreachable the buffer grows up to
 * `limits.maxTicks` ticks and bars and `limits.maxBytes` estimated bytes, because an ingest process
 * must not grow without bound. Past the byte bound the oldest rejection records go first: they describe
 * input already refused (counted in metrics, each kind logged with a sample), so a feed of garbage
 * never pushes out valid ticks. Past either bound after that, the oldest jobs are dropped. Every drop
 * is counted, logged and reported as an event once Redis is back.
 */
export class Outbox {
  private jobs: BufferedJob[] = [];
  /** Taken out of `jobs` while a send is under way, so drops never touch what is being sent. */
  private inFlight: BufferedJob[] = [];
  private events: OutgoingJob<SystemEvent>[] = [];
  private droppedEvents = 0;
  private bufferedTicks = 0;
  private bufferedBytes = 0;
  private droppedTicks = 0;
  private droppedSinceReport = 0;
  private droppedRejections = 0;
  private droppedRejectionsSinceReport = 0;
  private droppedRejectionsSinceLog = 0;
  private lastRejectionDropLogAt = -Infinity;
  private sentJobs = 0;
  private sendFailures = 0;
  private failingSince: number | undefined;
  private wake: (() => void) | undefined;
  private interruptBackoff: (() => void) | undefined;
  private running = true;
  private loop: Promise<void>;
  private pushedSeq = 0;
  private eventsPushed = 0;
  private eventsSent = 0;
  private droppedSeqMax = 0;

  constructor(
    private readonly targets: OutboxTargets,
    private readonly limits: OutboxLimits,
    private readonly logger: Logger,
    private readonly service: string,
  ) {
    this.loop = this.run();
  }

  pushTicks(job: TickBatchJob): void {
    const bytes = estimateJobBytes(job);
    this.jobs.push({ id: randomUUID(), data: job, seq: ++this.pushedSeq, bytes });
    this.bufferedTicks += itemsIn(job);
    this.bufferedBytes += bytes;
    if (this.bufferedBytes > this.limits.maxBytes) this.dropOldestRejections();
    while ((this.bufferedTicks > this.limits.maxTicks || this.bufferedBytes > this.limits.maxBytes) && this.jobs.length > 1) {
      const droppedJob = this.jobs.shift()!;
      this.droppedSeqMax = Math.max(this.droppedSeqMax, droppedJob.seq ?? 0);
      const dropped = itemsIn(droppedJob.data);
      this.bufferedTicks -= dropped;
      this.bufferedBytes -= droppedJob.bytes;
      this.droppedTicks += dropped;
      this.droppedSinceReport += dropped;
      this.countDroppedRejections(droppedJob.data.rejected?.length ?? 0);
      this.logger.error(
        { dropped, droppedTotal: this.droppedTicks, bufferedBytes: this.bufferedBytes, maxBytes: this.limits.maxBytes },
        'ingest buffer full while Redis is unreachable: dropped the oldest ticks and bars',
      );
    }
    this.wake?.();
  }

  /**
   * Strips rejection records from the oldest buffered jobs until the bytes fit (a job left empty goes).
   * A stripped job keeps its id: if an earlier send did reach Redis, BullMQ keeps that copy and ignores this one.
   */
  private dropOldestRejections(): void {
    let dropped = 0;
    for (let i = 0; i < this.jobs.length && this.bufferedBytes > this.limits.maxBytes; ) {
      const job = this.jobs[i]!;
      const rejections = job.data.rejected?.length ?? 0;
      if (rejections === 0) {
        i++;
        continue;
      }
      dropped += rejections;
      this.bufferedBytes -= job.bytes;
      if (itemsIn(job.data) === 0) {
        this.jobs.splice(i, 1);
        continue;
      }
      // A new object: whoever built the job may still hold it.
      job.data = { ...job.data, rejected: [] };
      job.bytes = estimateJobBytes(job.data);
      this.bufferedBytes += job.bytes;
      i++;
    }
    this.countDroppedRejections(dropped);
  }

  private countDroppedRejections(dropped: number): void {
    if (dropped === 0) return;
    this.droppedRejections += dropped;
    this.droppedRejectionsSinceReport += dropped;
    this.droppedRejectionsSinceLog += dropped;
    const now = performance.now();
    if (now - this.lastRejectionDropLogAt < REJECTION_DROP_LOG_INTERVAL_MS) return;
    this.lastRejectionDropLogAt = now;
    this.logger.error(
      {
        droppedRejections: this.droppedRejectionsSinceLog, droppedRejectionsTotal: this.droppedRejections,
        bufferedTicks: this.bufferedTicks, bufferedBytes: this.bufferedBytes, maxBytes: this.limits.maxBytes,
      },
      'ingest buffer at its byte bound while Redis is unreachable: dropped the oldest rejection records, kept the ticks',
    );
    this.droppedRejectionsSinceLog = 0;
  }

  pushEvent(event: SystemEvent): void {
    // Events are few; a bound only guards against a runaway loop during a long outage.
    if (this.events.length < MAX_BUFFERED_EVENTS) {
      this.events.push({ id: randomUUID(), data: event });
      this.eventsPushed++;
    } else if (this.droppedEvents++ % 100 === 0) {
      this.logger.error({ droppedEvents: this.droppedEvents, kind: event.kind }, 'event buffer full while Redis is unreachable: dropping events');
    }
    this.wake?.();
  }

  /** The position of the newest job pushed so far (see `delivered`). */
  get position(): number {
    return this.pushedSeq;
  }

  /**
   * Resolves once every job pushed after `from` up to `through` is in Redis; rejects if any job pushed
   * after `from` was dropped (buffer full during an outage), or at `deadline`. Lets a backfill complete
   * only when its data is safe.
   */
  async delivered(from: number, through: number, deadline: number): Promise<void> {
    for (;;) {
      if (this.droppedSeqMax > from) throw new Error('ingest buffer overflowed while Redis was unreachable: some of this data was dropped');
      const pending = [...this.inFlight, ...this.jobs].some((job) => (job.seq ?? 0) > from && (job.seq ?? 0) <= through);
      if (!pending) return;
      if (Date.now() > deadline) throw new DeliveryDeadlineError('Redis did not take the data in time');
      this.wake?.();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resolves once every event pushed so far is in Redis (events are only appended, sent in order). */
  async eventsDelivered(deadline: number): Promise<void> {
    const target = this.eventsPushed;
    while (this.eventsSent < target) {
      if (Date.now() > deadline) throw new Error('Redis did not take the event in time');
      this.wake?.();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stats(): OutboxStats {
    return {
      bufferedTicks: this.bufferedTicks,
      bufferedBytes: this.bufferedBytes,
      bufferedJobs: this.jobs.length + this.inFlight.length,
      droppedTicks: this.droppedTicks,
      droppedRejections: this.droppedRejections,
      sentJobs: this.sentJobs,
      sendFailures: this.sendFailures,
    };
  }

  get healthy(): boolean {
    return this.failingSince === undefined;
  }

  /** Sends everything still buffered, trying until `deadline`; what remains is logged as lost. */
  async close(deadline: number): Promise<void> {
    while ((this.jobs.length > 0 || this.events.length > 0) && Date.now() < deadline) {
      this.wake?.();
      this.interruptBackoff?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    this.running = false;
    this.wake?.();
    this.interruptBackoff?.();
    await this.loop;
    if (this.bufferedTicks > 0) {
      this.logger.error({ bufferedTicks: this.bufferedTicks }, 'stopped with ticks Redis never took; they are lost');
    }
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (this.running) {
      if (this.jobs.length === 0 && this.events.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        await this.sendSome();
        if (this.failingSince !== undefined || this.droppedSinceReport > 0 || this.droppedRejectionsSinceReport > 0) this.recovered();
        attempt = 0;
      } catch (error) {
        attempt++;
        this.sendFailures++;
        if (this.failingSince === undefined) {
          this.failingSince = Date.now();
          this.logger.error({ err: errorMessage(error), bufferedTicks: this.bufferedTicks, bufferedBytes: this.bufferedBytes }, 'cannot queue ticks: Redis unreachable; buffering');
        } else if (attempt % 10 === 0) {
          this.logger.error(
            { err: errorMessage(error), bufferedTicks: this.bufferedTicks, bufferedBytes: this.bufferedBytes, droppedTicks: this.droppedTicks, droppedRejections: this.droppedRejections, attempt },
            'Redis still unreachable; buffering',
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffDelay(attempt, { initialMs: 200, maxMs: 5000 }));
          // Shutdown cuts the pause short: its drain deadline is shorter than the longest pause.
          this.interruptBackoff = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.interruptBackoff = undefined;
      }
    }
  }

  private async sendSome(): Promise<void> {
    if (this.events.length > 0) {
      const events = this.events.slice(0, JOBS_PER_ADD_BULK);
      await this.targets.sendEvents(events);
      this.events.splice(0, events.length); // events are only appended, never dropped from the front
      this.eventsSent += events.length;
    }
    if (this.jobs.length > 0) {
      const batch = this.jobs.splice(0, JOBS_PER_ADD_BULK);
      this.inFlight = batch;
      try {
        await this.targets.sendTicks(batch);
      } catch (error) {
        // Back to the front, in order: they are the oldest, so the first to go if the bound is hit.
        this.jobs.unshift(...batch);
        throw error;
      } finally {
        this.inFlight = [];
      }
      // Only now are they Redis's responsibility.
      for (const job of batch) {
        this.bufferedTicks -= itemsIn(job.data);
        this.bufferedBytes -= job.bytes;
      }
      this.sentJobs += batch.length;
      this.targets.onDelivered?.(batch.map((job) => job.data));
    }
  }

  /** After an outage, or after drops while the outbox fell behind, leaves an audit event. */
  private recovered(): void {
    const outageMs = this.failingSince === undefined ? 0 : Date.now() - this.failingSince;
    this.failingSince = undefined;
    const dropped = { droppedTicks: this.droppedSinceReport, droppedRejections: this.droppedRejectionsSinceReport };
    this.logger.info({ outageMs, ...dropped }, 'Redis accepting jobs again; buffered ticks queued');
    this.pushEvent({
      ts: new Date().toISOString(),
      service: this.service,
      kind: outageMs > 0 ? 'redis_outage' : 'ingest_dropped',
      symbol: null,
      details: { outageMs, ...dropped },
    });
    this.droppedSinceReport = 0;
    this.droppedRejectionsSinceReport = 0;
  }
}

/** What a job holds that counts against the tick bound: ticks and bars (bar-only jobs count too). */
function itemsIn(job: TickBatchJob): number {
  return job.ticks.length + (job.bars?.length ?? 0);
}

/**
 * About the length of the job as JSON, from its strings and keys: a quarter of the cost of stringifying
 * it, which matters on the ingest hot path. It can only count what it sees: the pipeline copies samples
 * out of the frames they came from, so a short sample does not keep a whole frame alive on the heap.
 */
export function estimateJobBytes(job: TickBatchJob): number {
  return approximateJsonLength(job, 0);
}

// Jobs are shallow (job → array → item → field); deeper values are counted by a flat guess.
const MAX_ESTIMATE_DEPTH = 4;
const DEEP_VALUE_BYTES = 64;

function approximateJsonLength(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length + 2;
  if (value === null || typeof value !== 'object') return 8;
  if (depth >= MAX_ESTIMATE_DEPTH) return DEEP_VALUE_BYTES;
  let length = 2;
  if (Array.isArray(value)) {
    for (const item of value) length += approximateJsonLength(item, depth + 1) + 1;
    return length;
  }
  for (const key in value) length += key.length + 4 + approximateJsonLength((value as Record<string, unknown>)[key], depth + 1);
  return length;
}

/** Redis had not taken the data by the deadline; it is still buffered (unlike a drop, which is final). */
export class DeliveryDeadlineError extends Error {
  override name = 'DeliveryDeadlineError';
}

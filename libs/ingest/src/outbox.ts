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
  bufferedJobs: number;
  droppedTicks: number;
  sentJobs: number;
  sendFailures: number;
}

// BullMQ's guidance: addBulk in batches of hundreds of jobs; larger calls risk Redis timeouts.
const JOBS_PER_ADD_BULK = 100;
const MAX_BUFFERED_EVENTS = 1000;

/**
 * Holds jobs until Redis has taken them. While Redis is unreachable the buffer grows up to
 * `maxTicks`; past that the oldest jobs are dropped and counted (and reported as an event
 * once Redis is back), because an ingest process must not grow without bound.
 */
export class Outbox {
  private jobs: OutgoingJob<TickBatchJob>[] = [];
  /** Taken out of `jobs` while a send is under way, so drops never touch what is being sent. */
  private inFlight: OutgoingJob<TickBatchJob>[] = [];
  private events: OutgoingJob<SystemEvent>[] = [];
  private droppedEvents = 0;
  private bufferedTicks = 0;
  private droppedTicks = 0;
  private droppedSinceReport = 0;
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
    private readonly maxTicks: number,
    private readonly logger: Logger,
    private readonly service: string,
  ) {
    this.loop = this.run();
  }

  pushTicks(job: TickBatchJob): void {
    this.jobs.push({ id: randomUUID(), data: job, seq: ++this.pushedSeq });
    this.bufferedTicks += itemsIn(job);
    while (this.bufferedTicks > this.maxTicks && this.jobs.length > 1) {
      const droppedJob = this.jobs.shift()!;
      this.droppedSeqMax = Math.max(this.droppedSeqMax, droppedJob.seq ?? 0);
      const dropped = itemsIn(droppedJob.data);
      this.bufferedTicks -= dropped;
      this.droppedTicks += dropped;
      this.droppedSinceReport += dropped;
      this.logger.error({ dropped, droppedTotal: this.droppedTicks }, 'ingest buffer full while Redis is unreachable: dropped the oldest ticks and bars');
    }
    this.wake?.();
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
      if (Date.now() > deadline) throw new Error('Redis did not take the data in time');
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
      bufferedJobs: this.jobs.length + this.inFlight.length,
      droppedTicks: this.droppedTicks,
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
        if (this.failingSince !== undefined || this.droppedSinceReport > 0) this.recovered();
        attempt = 0;
      } catch (error) {
        attempt++;
        this.sendFailures++;
        if (this.failingSince === undefined) {
          this.failingSince = Date.now();
          this.logger.error({ err: errorMessage(error), bufferedTicks: this.bufferedTicks }, 'cannot queue ticks: Redis unreachable; buffering');
        } else if (attempt % 10 === 0) {
          this.logger.error({ err: errorMessage(error), bufferedTicks: this.bufferedTicks, droppedTicks: this.droppedTicks, attempt }, 'Redis still unreachable; buffering');
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
      for (const job of batch) this.bufferedTicks -= itemsIn(job.data);
      this.sentJobs += batch.length;
      this.targets.onDelivered?.(batch.map((job) => job.data));
    }
  }

  /** After an outage, or after drops while the outbox fell behind, leaves an audit event. */
  private recovered(): void {
    const outageMs = this.failingSince === undefined ? 0 : Date.now() - this.failingSince;
    this.failingSince = undefined;
    this.logger.info({ outageMs, droppedTicks: this.droppedSinceReport }, 'Redis accepting jobs again; buffered ticks queued');
    this.pushEvent({
      ts: new Date().toISOString(),
      service: this.service,
      kind: outageMs > 0 ? 'redis_outage' : 'ingest_dropped',
      symbol: null,
      details: { outageMs, droppedTicks: this.droppedSinceReport },
    });
    this.droppedSinceReport = 0;
  }
}

/** What a job holds that counts against the buffer bound: ticks and bars (bar-only jobs count too). */
function itemsIn(job: TickBatchJob): number {
  return job.ticks.length + (job.bars?.length ?? 0);
}

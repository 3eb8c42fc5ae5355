import type { SystemEvent, TickBatchJob } from '@tickvault/schema';
import { backoffDelay, errorMessage, type Logger } from '@tickvault/runtime';

export interface OutboxTargets {
  sendTicks(jobs: TickBatchJob[]): Promise<void>;
  sendEvents(events: SystemEvent[]): Promise<void>;
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

/**
 * Holds jobs until Redis has taken them. While Redis is unreachable the buffer grows up to
 * `maxTicks`; past that the oldest jobs are dropped and counted (and reported as an event
 * once Redis is back), because an ingest process must not grow without bound.
 */
export class Outbox {
  private jobs: TickBatchJob[] = [];
  private events: SystemEvent[] = [];
  private bufferedTicks = 0;
  private droppedTicks = 0;
  private droppedSinceReport = 0;
  private sentJobs = 0;
  private sendFailures = 0;
  private failingSince: number | undefined;
  private wake: (() => void) | undefined;
  private running = true;
  private loop: Promise<void>;

  constructor(
    private readonly targets: OutboxTargets,
    private readonly maxTicks: number,
    private readonly logger: Logger,
    private readonly service: string,
  ) {
    this.loop = this.run();
  }

  pushTicks(job: TickBatchJob): void {
    this.jobs.push(job);
    this.bufferedTicks += job.ticks.length;
    while (this.bufferedTicks > this.maxTicks && this.jobs.length > 1) {
      const dropped = this.jobs.shift()!;
      this.bufferedTicks -= dropped.ticks.length;
      this.droppedTicks += dropped.ticks.length;
      this.droppedSinceReport += dropped.ticks.length;
      this.logger.error({ dropped: dropped.ticks.length, droppedTotal: this.droppedTicks }, 'ingest buffer full while Redis is unreachable: dropped the oldest ticks');
    }
    this.wake?.();
  }

  pushEvent(event: SystemEvent): void {
    // Events are few; a bound only guards against a runaway loop during a long outage.
    if (this.events.length < 1000) this.events.push(event);
    this.wake?.();
  }

  stats(): OutboxStats {
    return {
      bufferedTicks: this.bufferedTicks,
      bufferedJobs: this.jobs.length,
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
      await new Promise((r) => setTimeout(r, 50));
    }
    this.running = false;
    this.wake?.();
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
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, { initialMs: 200, maxMs: 5000 })));
      }
    }
  }

  private async sendSome(): Promise<void> {
    if (this.events.length > 0) {
      const events = this.events.slice(0, JOBS_PER_ADD_BULK);
      await this.targets.sendEvents(events);
      this.events.splice(0, events.length);
    }
    if (this.jobs.length > 0) {
      const jobs = this.jobs.slice(0, JOBS_PER_ADD_BULK);
      await this.targets.sendTicks(jobs);
      // Only now are they Redis's responsibility; a failure above keeps them here for the retry.
      const sent = this.jobs.splice(0, jobs.length);
      for (const job of sent) this.bufferedTicks -= job.ticks.length;
      this.sentJobs += sent.length;
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

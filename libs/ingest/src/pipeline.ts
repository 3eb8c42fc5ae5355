import { checkBar, checkTick, MAX_SAMPLE_CHARS, type AssetClass, type RejectedInput, type RejectReason, type TickBatchJob } from '@tickvault/schema';
import type { Logger, Metrics } from '@tickvault/runtime';
import type { MarketSource, Observation, SourceBar, SourceRejection } from '@tickvault/sources';
import type { Outbox } from './outbox.js';

export interface PipelineOptions {
  service: string;
  /** Written into every job, so an operator can tell which replica produced it. */
  producer?: string;
  assetClass: AssetClass;
  /** Stamped on every job; the writer refuses jobs of another environment. */
  dataEnvironment?: 'live' | 'demo' | 'test';
  symbols: readonly string[];
  maxTicksPerJob: number;
  flushMs: number;
  maxFutureMs: number;
  outbox: Outbox;
  logger: Logger;
  metrics?: Pick<Metrics, 'ticksReceived' | 'ticksValidated' | 'ticksRejected'>;
}

export interface PipelineCounters {
  received: number;
  accepted: number;
  rejected: Record<string, number>;
}

/**
 * Validates and normalizes what sources emit, then micro-batches ticks into queue jobs
 * (by size or every `flushMs`). Rejections travel in the same jobs so the writer records them;
 * each (source, reason) is logged once with a sample, then only counted.
 */
export class IngestPipeline {
  private ticks: unknown[] = [];
  private bars: unknown[] = [];
  private rejected: RejectedInput[] = [];
  private readonly symbols: ReadonlySet<string>;
  private readonly loggedReasons = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  readonly counters: PipelineCounters = { received: 0, accepted: 0, rejected: {} };

  constructor(private readonly options: PipelineOptions) {
    this.symbols = new Set(options.symbols);
  }

  accept(source: MarketSource, observations: readonly Observation[]): void {
    const now = Date.now();
    const before = this.counters.accepted;
    this.options.metrics?.ticksReceived.inc({ source: source.id }, observations.length);
    for (const obs of observations) {
      this.counters.received++;
      const tick = {
        source: source.id,
        symbol: obs.symbol,
        assetClass: this.options.assetClass,
        ts: obs.ts,
        price: obs.price,
        size: obs.size,
        tradeId: obs.tradeId,
      };
      if (!this.symbols.has(obs.symbol)) {
        this.reject(source.id, { symbol: obs.symbol, reason: 'unknown_symbol', detail: `symbol ${obs.symbol} is not configured`, sample: JSON.stringify(obs) });
        continue;
      }
      const checked = checkTick(tick, now, { maxFutureMs: this.options.maxFutureMs });
      if (!checked.ok) {
        this.reject(source.id, { symbol: obs.symbol, reason: checked.reason, detail: checked.detail, sample: JSON.stringify(obs) });
        continue;
      }
      this.counters.accepted++;
      this.ticks.push(checked.tick);
      if (this.ticks.length >= this.options.maxTicksPerJob) this.flush();
    }
    this.options.metrics?.ticksValidated.inc({ source: source.id }, this.counters.accepted - before);
    this.armTimer();
  }

  /** Provider bars go in the same jobs as ticks; the writer makes each the candle of its minute. */
  /** Returns how many were accepted (the rest were rejected with their reason). */
  acceptBars(source: MarketSource, bars: readonly SourceBar[]): number {
    const now = Date.now();
    const seenAt = new Date(now).toISOString();
    let accepted = 0;
    if (this.options.assetClass === 'macro') {
      for (const bar of bars) this.reject(source.id, { symbol: bar.symbol, reason: 'invalid_bar', detail: 'macro series have no bars', sample: JSON.stringify(bar) });
      return 0;
    }
    for (const input of bars) {
      if (!this.symbols.has(input.symbol)) {
        this.reject(source.id, { symbol: input.symbol, reason: 'unknown_symbol', detail: `symbol ${input.symbol} is not configured`, sample: JSON.stringify(input) });
        continue;
      }
      const checked = checkBar({ source: source.id, assetClass: this.options.assetClass, ...input, seenAt }, now, { maxFutureMs: this.options.maxFutureMs });
      if (!checked.ok) {
        this.reject(source.id, { symbol: input.symbol, reason: checked.reason, detail: checked.detail, sample: JSON.stringify(input) });
        continue;
      }
      accepted++;
      this.bars.push(checked.bar);
      if (this.bars.length >= this.options.maxTicksPerJob) this.flush();
    }
    this.armTimer();
    return accepted;
  }

  reject(sourceId: string, rejection: SourceRejection): void {
    const key = `${sourceId}:${rejection.reason}`;
    this.counters.rejected[key] = (this.counters.rejected[key] ?? 0) + 1;
    this.options.metrics?.ticksRejected.inc({ source: sourceId, reason: rejection.reason, stage: 'ingest' });
    if (!this.loggedReasons.has(key)) {
      this.loggedReasons.add(key);
      this.options.logger.warn(
        { source: sourceId, reason: rejection.reason, detail: rejection.detail, sample: rejection.sample.slice(0, 300) },
        'rejected input (further rejections of this kind are only counted)',
      );
    }
    this.rejected.push({
      source: sourceId,
      symbol: typeof rejection.symbol === 'string' ? ownCopy(rejection.symbol, 64) : null,
      reason: rejection.reason as RejectReason,
      detail: ownCopy(rejection.detail, 1000),
      sample: ownCopy(rejection.sample, MAX_SAMPLE_CHARS),
      observedAt: new Date().toISOString(),
    });
    if (this.rejected.length >= this.options.maxTicksPerJob) this.flush();
    this.armTimer();
  }

  /** The outbox position now: what is accepted from here on goes into jobs pushed after it. */
  get position(): number {
    return this.options.outbox.position;
  }

  /**
   * Flushes the micro-batch and resolves once every job pushed after `position` is in Redis; rejects
   * if the outbox dropped one of them, or at `deadline` (a DeliveryDeadlineError: still buffered).
   */
  async delivered(position: number, deadline: number): Promise<void> {
    this.flush();
    await this.options.outbox.delivered(position, this.options.outbox.position, deadline);
  }

  /** Moves the current micro-batch into the outbox. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ticks.length === 0 && this.bars.length === 0 && this.rejected.length === 0) return;
    const job: TickBatchJob = { v: 1, producer: (this.options.producer ?? this.options.service).slice(0, 64), ticks: this.ticks, rejected: this.rejected };
    if (this.bars.length > 0) job.bars = this.bars;
    if (this.options.dataEnvironment) job.env = this.options.dataEnvironment;
    this.ticks = [];
    this.bars = [];
    this.rejected = [];
    this.options.outbox.pushTicks(job);
  }

  private armTimer(): void {
    if (!this.timer && (this.ticks.length > 0 || this.bars.length > 0 || this.rejected.length > 0)) {
      this.timer = setTimeout(() => this.flush(), this.options.flushMs);
    }
  }
}

/**
 * The first `max` characters as a string of their own. V8 makes a short slice of a long string point
 * into it, so a 2,000-character sample cut from a 2 MB frame would keep the whole frame alive while the
 * rejection waits in the outbox, out of sight of its byte bound. The JSON round trip copies exactly
 * (lone surrogates included) and costs little at these lengths.
 */
function ownCopy(text: string, max: number): string {
  return JSON.parse(JSON.stringify(text.slice(0, max))) as string;
}

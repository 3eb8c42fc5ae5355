import { QueueEvents } from 'bullmq';
import { createWorkerConnection } from '@tickvault/queue';
import { JOB_NAMES, QUEUE_NAMES, type Tick, type TickBatchJob } from '@tickvault/schema';
import {
  CpuAccount, describeCpu, failedJobs, PgActivitySampler, log, metricValue, quantile, record, resetState, scrape, sleep, startWriters, symbolsOf, waitQueueDrained, waitUntil,
  type BenchContext,
} from '../lib.js';

export interface LatencyOptions {
  rates: number[];
  seconds: number;
  warmupSeconds: number;
  symbols: number;
  /** Like the ingest pipeline's defaults: a job at 500 ticks or 200 ms after its first tick. */
  perJob: number;
  flushMs: number;
}

interface SentJob {
  /** When each tick "arrived" at the producer (its ts), ms since the epoch. */
  arrivals: number[];
  addedAt: number;
}

/**
 * Tick-to-committed latency at a steady offered load. A producer in this process plays an ingest
 * service: ticks arrive at exactly `rate` per second (each stamped with its arrival time as its ts),
 * are micro-batched like IngestPipeline (500 ticks or 200 ms), and sent with addBulk by one sender.
 * Commit time is the moment the writer completed the job: jobs complete only after their flush
 * committed, and the `completed` event's stream id carries Redis's clock (same machine) at that
 * moment, so the figure is an upper bound of commit time by one Redis call. Not used: ingested_at
 * (its default is now(), the transaction's start, so it would hide the flush itself) and the live
 * channel (it names candles, not ticks). Cross-check: the writer's own tickvault_write_lag_seconds
 * histogram (commit time minus tick ts, observed right after each commit).
 */
export async function latency(ctx: BenchContext, o: LatencyOptions): Promise<void> {
  for (const rate of o.rates) {
    log(`latency: ${rate} ticks/s offered for ${o.seconds} s (after ${o.warmupSeconds} s of warm-up)`);
    await resetState(ctx);
    const writers = await startWriters(ctx, 1);
    const connection = createWorkerConnection(ctx.redisUrl, 'tickvault-bench-events', ctx.redisClusterNodes);
    const events = new QueueEvents(QUEUE_NAMES.ticks, { connection, prefix: ctx.prefix });
    const completedAt = new Map<string, number>();
    events.on('completed', ({ jobId }, id) => completedAt.set(jobId, Number(id.split('-')[0])));
    try {
      await events.waitUntilReady();
      await sleep(200);
      await pace(ctx, rate, o.warmupSeconds, 'w', o);
      await waitQueueDrained(ctx.queue);
      const before = await scrape(writers.healthPorts[0]!);
      const cpu = new CpuAccount(() => ({ writer: writers.procs.map((p) => p.pid), bench: [process.pid] }));
      const activity = new PgActivitySampler(ctx.sql);
      const run = await pace(ctx, rate, o.seconds, 'm', o);
      const used = cpu.stop();
      const backends = await activity.stop();
      await waitUntil(async () => [...run.jobs.keys()].every((id) => completedAt.has(id)), 20, 600_000, 'every measured job completed');
      const after = await scrape(writers.healthPorts[0]!);
      const failed = await failedJobs(ctx.queue);
      if (failed > 0) throw new Error(`${failed} tick jobs failed`);

      const tickLatency = new Float64Array(run.sent);
      const jobLatency = new Float64Array(run.jobs.size);
      let n = 0;
      let j = 0;
      let lastCommit = 0;
      let uncommittedAtStop = 0;
      for (const [id, job] of run.jobs) {
        const committed = completedAt.get(id)!;
        lastCommit = Math.max(lastCommit, committed);
        for (const arrival of job.arrivals) tickLatency[n++] = committed - arrival;
        if (committed > run.stoppedAt) uncommittedAtStop += job.arrivals.length;
        jobLatency[j++] = committed - job.addedAt;
      }
      tickLatency.sort();
      jobLatency.sort();
      const lagCount = metricValue(after, 'tickvault_write_lag_seconds_count') - metricValue(before, 'tickvault_write_lag_seconds_count');
      const lagWithin = metricValue(after, 'tickvault_write_lag_seconds_bucket', { le: '0.25' }) - metricValue(before, 'tickvault_write_lag_seconds_bucket', { le: '0.25' });
      const label = `${rate / 1000}k/s`;
      record(ctx, {
        scenario: 'latency', metric: `${label}: offered load achieved`, value: run.sent / run.seconds, unit: 'ticks/s',
        note: `${run.sent} ticks in ${run.jobs.size} jobs over ${run.seconds.toFixed(1)} s`,
      });
      record(ctx, { scenario: 'latency', metric: `${label}: tick-to-committed p50`, value: quantile(tickLatency, 0.5), unit: 'ms' });
      record(ctx, { scenario: 'latency', metric: `${label}: tick-to-committed p99`, value: quantile(tickLatency, 0.99), unit: 'ms' });
      record(ctx, { scenario: 'latency', metric: `${label}: tick-to-committed max`, value: quantile(tickLatency, 1), unit: 'ms' });
      record(ctx, {
        scenario: 'latency', metric: `${label}: job-added-to-committed p50 / p99`, value: `${Math.round(quantile(jobLatency, 0.5))} / ${Math.round(quantile(jobLatency, 0.99))}`, unit: 'ms',
        note: 'queue + writer only, without the ingest micro-batch wait',
      });
      record(ctx, {
        scenario: 'latency', metric: `${label}: writer's histogram, share committed ≤ 250 ms`, value: `${((100 * lagWithin) / lagCount).toFixed(1)}%`, unit: '',
        note: 'tickvault_write_lag_seconds, cross-check',
      });
      record(ctx, {
        scenario: 'latency', metric: `${label}: backlog when the producer stopped`, value: uncommittedAtStop, unit: 'ticks',
        note: `drained ${((lastCommit - run.stoppedAt) / 1000).toFixed(1)} s later`,
      });
      const flushes = metricValue(after, 'tickvault_flush_duration_seconds_count', { outcome: 'committed' }) - metricValue(before, 'tickvault_flush_duration_seconds_count', { outcome: 'committed' });
      const flushSeconds = metricValue(after, 'tickvault_flush_duration_seconds_sum', { outcome: 'committed' }) - metricValue(before, 'tickvault_flush_duration_seconds_sum', { outcome: 'committed' });
      record(ctx, {
        scenario: 'latency', metric: `${label}: flushes / avg ms / avg ticks`, value: `${flushes} / ${Math.round((flushSeconds / flushes) * 1000)} / ${Math.round(lagCount / flushes)}`, unit: '',
      });
      record(ctx, { scenario: 'latency', metric: `${label}: CPU cores used`, value: describeCpu(used), unit: '' });
      record(ctx, { scenario: 'latency', metric: `${label}: writer backends by state`, value: backends, unit: '' });
    } finally {
      await events.close();
      connection.disconnect();
      await writers.stop();
    }
  }
  await resetState(ctx);
}

/** Offers `rate` ticks per second for `seconds`, micro-batched like an ingest service. */
async function pace(ctx: BenchContext, rate: number, seconds: number, tag: string, o: LatencyOptions) {
  const symbols = symbolsOf(o.symbols);
  const jobs = new Map<string, SentJob>();
  const total = Math.round(rate * seconds);
  const pending: { job: TickBatchJob; arrivals: number[] }[] = [];
  let sending: Promise<void> | undefined;
  const send = async () => {
    while (pending.length > 0) {
      const batch = pending.splice(0);
      const addedAt = Date.now();
      const added = await ctx.queue.addBulk(batch.map((b) => ({ name: JOB_NAMES.tickBatch, data: b.job })));
      added.forEach((job, k) => jobs.set(job.id!, { arrivals: batch[k]!.arrivals, addedAt }));
    }
    sending = undefined;
  };
  let buffer: Tick[] = [];
  let arrivals: number[] = [];
  const flush = () => {
    if (buffer.length === 0) return;
    pending.push({ job: { v: 1, producer: 'bench-latency', ticks: buffer, rejected: [] }, arrivals });
    buffer = [];
    arrivals = [];
    sending ??= send();
  };
  const t0 = Date.now();
  let i = 0;
  for (;;) {
    const now = Date.now();
    const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000));
    for (; i < due; i++) {
      const at = t0 + Math.floor((i * 1000) / rate);
      buffer.push({
        source: 'sim',
        symbol: symbols[i % symbols.length]!,
        assetClass: 'crypto',
        ts: new Date(at).toISOString(),
        price: (1000 + ((i * 7919) % 5000) / 100).toFixed(2),
        size: (((i * 104729) % 100000) / 10000 + 0.0001).toFixed(4),
        tradeId: `${tag}${i}`,
      });
      arrivals.push(at);
      if (buffer.length >= o.perJob) flush();
    }
    if (arrivals.length > 0 && now - arrivals[0]! >= o.flushMs) flush();
    if (i >= total) break;
    await sleep(2);
  }
  flush();
  const stoppedAt = Date.now();
  while (sending) await sending;
  return { jobs, sent: total, seconds: (stoppedAt - t0) / 1000, stoppedAt };
}

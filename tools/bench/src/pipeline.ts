import { V1_SCHEMA } from '@tickvault/db';
import type { Tick, TickBatchJob } from '@tickvault/schema';
import {
  CpuAccount, describeCpu, enqueue, PgActivitySampler, failedJobs, metricValue, resetState, scrape, startWriters, waitQueueDrained, type BenchContext,
} from './lib.js';

export interface PipelineResult {
  ticks: number;
  /** Ticks committed per second, from the first add to the last job completed. */
  rate: number;
  /** How fast the producer alone got the jobs into Redis (it runs while the writer works). */
  enqueueRate: number;
  seconds: number;
  candles: number;
  /** Cores used per part during the run (writer, postgres, redis, bench = producer, other). */
  cpu: string;
  cpuByPart: Record<string, number>;
  /** Average writer backends per state (pg_stat_activity). */
  backends: string;
  flushes: number;
  avgFlushMs: number;
  avgBatchTicks: number;
}

/**
 * The real path: jobs pushed by a producer (this process) through the real queue into `writers`
 * real writer processes, from an empty database. The clock runs from the first add until no job is
 * waiting or active (a job completes only after its commit); then the stored count is checked.
 */
export async function measurePipeline(ctx: BenchContext, jobs: readonly TickBatchJob[], writers = 1, writerEnv: Record<string, string> = {}): Promise<PipelineResult> {
  await resetState(ctx);
  const expected = jobs.reduce((n, j) => n + (j.ticks as Tick[]).length, 0);
  const w = await startWriters(ctx, writers, writerEnv);
  try {
    const cpu = new CpuAccount(() => ({ writer: w.procs.map((p) => p.pid), bench: [process.pid] }));
    const activity = new PgActivitySampler(ctx.sql);
    const started = performance.now();
    await enqueue(ctx.queue, jobs);
    const enqueued = performance.now();
    await waitQueueDrained(ctx.queue);
    const finished = performance.now();
    const used = cpu.stop();
    const backends = await activity.stop();
    const metrics = await Promise.all(w.healthPorts.map((port) => scrape(port)));
    const sum = (name: string, labels?: Record<string, string>) => metrics.reduce((n, text) => n + metricValue(text, name, labels), 0);
    // The v1 baseline writes into its scratch schema (WRITER_WRITE_PATH=v1).
    const schema = writerEnv.WRITER_WRITE_PATH === 'v1' ? `${V1_SCHEMA}.` : '';
    const [stored] = await ctx.sql.unsafe(`select count(*)::int as n from ${schema}ticks`);
    const failed = await failedJobs(ctx.queue);
    if (stored!.n !== expected || failed > 0) throw new Error(`pipeline stored ${stored!.n} of ${expected} ticks (${failed} failed jobs)`);
    const [candles] = await ctx.sql.unsafe(`select count(*)::int as n from ${schema}candles`);
    const flushes = sum('tickvault_flush_duration_seconds_count', { outcome: 'committed' });
    return {
      ticks: expected,
      rate: expected / ((finished - started) / 1000),
      enqueueRate: expected / ((enqueued - started) / 1000),
      seconds: (finished - started) / 1000,
      candles: candles!.n as number,
      cpu: describeCpu(used),
      backends,
      cpuByPart: Object.fromEntries(Object.entries(used.byPart).map(([k, v]) => [k, v / used.wallSeconds])),
      flushes,
      avgFlushMs: (sum('tickvault_flush_duration_seconds_sum', { outcome: 'committed' }) / flushes) * 1000,
      avgBatchTicks: sum('tickvault_batch_size_ticks_sum') / sum('tickvault_batch_size_ticks_count'),
    };
  } finally {
    await w.stop();
  }
}

import { readRedisMemory } from '@tickvault/queue';
import { enqueue, failedJobs, log, record, resetState, RssSampler, sleep, startWriters, symbolsOf, ticksAt, toJobs, waitQueueDrained, type BenchContext } from '../lib.js';

export interface MemoryOptions {
  /** Backlog sizes in ticks; the largest is the one the target is about, the smaller ones show the trend. */
  backlogs: number[];
  perJob: number;
  symbols: number;
}

/**
 * Writer RSS (VmRSS of the writer process from /proc) while a backlog drains: a fresh writer per
 * backlog size, idle RSS first, then the backlog is pushed as fast as the producer can (it lands in
 * Redis much faster than it drains), sampled every 100 ms until the queue is empty and 3 s after.
 * The writer holds at most WRITER_CONCURRENCY jobs, so the backlog's size must not show in its RSS.
 */
export async function memory(ctx: BenchContext, o: MemoryOptions): Promise<void> {
  const symbols = symbolsOf(o.symbols);
  for (const backlog of o.backlogs) {
    log(`memory: ${backlog} ticks of backlog`);
    await resetState(ctx);
    const writers = await startWriters(ctx, 1);
    const pid = writers.procs[0]!.pid;
    try {
      const sampler = new RssSampler({ writer: pid, bench: process.pid });
      await sleep(2000);
      const atStart = sampler.last('writer');
      const startMs = Date.now() - 3 * 3_600_000;
      const stepMs = Math.max(1, Math.floor((2 * 3_600_000) / backlog));
      const started = performance.now();
      // Built chunk by chunk so the producer does not hold the whole backlog.
      const chunk = 50_000;
      let maxWaiting = 0;
      for (let i = 0; i < backlog; i += chunk) {
        await enqueue(ctx.queue, toJobs(ticksAt(i, Math.min(chunk, backlog - i), { symbols, startMs, stepMs }), o.perJob));
        maxWaiting = Math.max(maxWaiting, (await ctx.queue.getJobCounts('waiting')).waiting ?? 0);
      }
      const enqueuedS = (performance.now() - started) / 1000;
      const redisMb = (await readRedisMemory(ctx.redis)).usedBytes / 1048576;
      await waitQueueDrained(ctx.queue, 50);
      const drained = performance.now();
      const drainedS = (drained - started) / 1000;
      await sleep(3000);
      sampler.stop();
      const [stored] = await ctx.sql`select count(*)::int as n from ticks`;
      if (stored!.n !== backlog || (await failedJobs(ctx.queue)) > 0) throw new Error(`stored ${stored!.n} of ${backlog}`);
      const label = `${backlog.toLocaleString('en-US')}-tick backlog`;
      // If the backlog drove memory, RSS would be highest in the first quarter (largest backlog) and fall.
      const quarters = [0, 1, 2, 3].map((q) => {
        const from = started + ((drained - started) * q) / 4;
        const to = started + ((drained - started) * (q + 1)) / 4;
        return Math.round(Math.max(0, ...sampler.samples.get('writer')!.filter((x) => x.t >= from && x.t < to).map((x) => x.mb)));
      });
      record(ctx, { scenario: 'memory', metric: `${label}: writer RSS at start (idle)`, value: atStart, unit: 'MB' });
      record(ctx, {
        scenario: 'memory', metric: `${label}: writer RSS peak while draining`, value: sampler.peak('writer'), unit: 'MB',
        note: `peak per quarter of the drain ${quarters.join(' / ')} MB; ${sampler.samples.get('writer')!.length} samples`,
      });
      record(ctx, { scenario: 'memory', metric: `${label}: writer RSS at end (3 s after drained)`, value: sampler.last('writer'), unit: 'MB' });
      record(ctx, {
        scenario: 'memory', metric: `${label}: drained in`, value: drainedS, unit: 's',
        note: `enqueued in ${enqueuedS.toFixed(1)} s, up to ${maxWaiting} jobs waiting; Redis used ${Math.round(redisMb)} MB after enqueue; producer (bench) RSS peak ${Math.round(sampler.peak('bench'))} MB`,
      });
    } finally {
      await writers.stop();
    }
  }
  await resetState(ctx);
}

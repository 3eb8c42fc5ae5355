import { shardOf, type TickBatchJob } from '@tickvault/schema';
import type { OutgoingJob } from './outbox.js';

function seriesOf(item: unknown): { source: string; symbol: string } | null {
  if (typeof item !== 'object' || item === null) return null;
  const { source, symbol } = item as { source?: unknown; symbol?: unknown };
  return typeof source === 'string' && typeof symbol === 'string' ? { source, symbol } : null;
}

/**
 * Splits outgoing jobs by tick shard: each series' ticks and bars go to its shard, rejections with
 * their series (or shard 0). The parts' ids derive from the job's id, so resending a job after a
 * partial failure re-adds the same ids and BullMQ ignores the parts it already has.
 */
export function splitByShard(jobs: readonly OutgoingJob<TickBatchJob>[], shards: number): OutgoingJob<TickBatchJob>[][] {
  const byShard: OutgoingJob<TickBatchJob>[][] = Array.from({ length: shards }, () => []);
  if (shards <= 1) {
    byShard[0]!.push(...jobs);
    return byShard;
  }
  for (const job of jobs) {
    const parts = new Map<number, TickBatchJob>();
    const part = (shard: number) => {
      let p = parts.get(shard);
      if (!p) parts.set(shard, (p = { ...job.data, ticks: [], bars: [], rejected: [] }));
      return p;
    };
    const shardFor = (item: unknown) => {
      const series = seriesOf(item);
      return series ? shardOf(series.source, series.symbol, shards) : 0;
    };
    for (const tick of job.data.ticks) part(shardFor(tick)).ticks.push(tick);
    for (const bar of job.data.bars ?? []) part(shardFor(bar)).bars!.push(bar);
    for (const rejection of job.data.rejected ?? []) {
      part(rejection.symbol === null ? 0 : shardOf(rejection.source, rejection.symbol, shards)).rejected!.push(rejection);
    }
    for (const [shard, data] of parts) {
      if (data.bars!.length === 0) delete data.bars;
      byShard[shard]!.push({ id: `${job.id}-s${shard}`, data, ...(job.seq === undefined ? {} : { seq: job.seq }) });
    }
  }
  return byShard;
}

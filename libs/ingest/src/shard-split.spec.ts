import { describe, expect, it } from 'vitest';
import { shardOf, tickShards, type TickBatchJob } from '@tickvault/schema';
import { splitByShard } from './shard-split.js';

const tick = (symbol: string, tradeId: string) => ({ source: 'sim', symbol, assetClass: 'crypto', ts: '2026-01-01T00:00:00Z', price: '1', size: '1', tradeId });

describe('tick shards', () => {
  it('shard 0 is the unsharded queue; others get their own hash tag', () => {
    expect(tickShards('{tickvault}', 3)).toEqual([
      { index: 0, name: 'ticks', prefix: '{tickvault}' },
      { index: 1, name: 'ticks-1', prefix: '{tickvault-s1}' },
      { index: 2, name: 'ticks-2', prefix: '{tickvault-s2}' },
    ]);
  });

  it('routes every series to one shard, spreads series, and keeps resends idempotent', () => {
    const symbols = Array.from({ length: 40 }, (_, i) => `S${i}/USDT`);
    const job: TickBatchJob = {
      v: 1, producer: 'p', ticks: symbols.flatMap((s) => [tick(s, '1'), tick(s, '2')]),
      rejected: [{ source: 'sim', symbol: 'S3/USDT', reason: 'invalid_price', detail: 'd', sample: 's', observedAt: 'now' }],
    };
    const split = splitByShard([{ id: 'job-a', data: job }], 4);
    const seen = split.flatMap((parts, shard) => parts.flatMap((p) => (p.data.ticks as { symbol: string }[]).map((t) => [t.symbol, shard] as const)));
    expect(seen).toHaveLength(80);
    for (const [symbol, shard] of seen) expect(shard).toBe(shardOf('sim', symbol, 4));
    expect(split.filter((parts) => parts.length > 0).length).toBe(4);
    expect(split.flat().map((p) => p.id).sort()).toEqual(['job-a-s0', 'job-a-s1', 'job-a-s2', 'job-a-s3']);
    expect(split[shardOf('sim', 'S3/USDT', 4)]![0]!.data.rejected).toHaveLength(1);
    expect(splitByShard([{ id: 'job-a', data: job }], 4)).toEqual(split);
  });

  it('one shard leaves jobs untouched', () => {
    const job: TickBatchJob = { v: 1, producer: 'p', ticks: [tick('A/B', '1')], rejected: [] };
    expect(splitByShard([{ id: 'x', data: job }], 1)).toEqual([[{ id: 'x', data: job }]]);
  });
});

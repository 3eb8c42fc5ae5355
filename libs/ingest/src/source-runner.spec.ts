import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import type { TickBatchJob } from '@tickvault/schema';
import type { MarketSource } from '@tickvault/sources';
import { DeliveredProgress } from './delivered-progress.js';
import type { IngestPipeline } from './pipeline.js';
import { SourceRunner } from './source-runner.js';

const tick = (symbol: string, ts: string) => ({ source: 'src', symbol, assetClass: 'stock', ts, price: '1', size: '1', tradeId: ts });

function runnerWith(owed: Record<string, number | undefined> | undefined) {
  const saved: Record<string, string>[] = [];
  const redis = { hset: async (_key: string, values: Record<string, string>) => saved.push(values) } as unknown as Redis;
  const source = {
    id: 'src',
    assetClass: 'stock',
    resumesItself: true,
    ...(owed ? { owedSince: (symbol: string) => owed[symbol] } : {}),
    stream: async () => {},
    history: async function* () {},
  } as MarketSource;
  const delivered = new DeliveredProgress();
  delivered.record([
    { v: 1, producer: 't', ticks: [tick('A', '2026-01-01T10:05:00.000Z'), tick('B', '2026-01-01T10:05:00.000Z')], rejected: [] } as TickBatchJob,
  ]);
  const runner = new SourceRunner(source, {} as IngestPipeline, redis, { prefix: 'p', service: 'ingest-stock', logger: pino({ level: 'silent' }), delivered });
  runner.setSymbols(['A', 'B', 'C'], []);
  return { runner, saved };
}

describe('SourceRunner progress', () => {
  it('saves the newest delivered tick per symbol', async () => {
    const { runner, saved } = runnerWith(undefined);
    await runner.saveProgress();
    expect(saved).toEqual([{ A: '2026-01-01T10:05:00.000Z', B: '2026-01-01T10:05:00.000Z' }]);
  });

  it('never saves progress past what the source still owes (a gap a restart would lose)', async () => {
    const { runner, saved } = runnerWith({ A: Date.parse('2026-01-01T10:03:30.000Z'), B: Date.parse('2026-01-01T10:06:00.000Z'), C: 0 });
    await runner.saveProgress();
    // A is held back to its owed gap; B owes nothing older than what was delivered; C delivered nothing.
    expect(saved).toEqual([{ A: '2026-01-01T10:03:30.000Z', B: '2026-01-01T10:05:00.000Z' }]);
  });
});

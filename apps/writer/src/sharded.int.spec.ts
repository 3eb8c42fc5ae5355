import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { tickShards } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import { createSimSource, type Observation } from '@tickvault/sources';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, type TestDatabase, type TestRedis,
} from '@tickvault/testing';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT'];
const SEED = 23;
const SHARDS = 3;

/**
 * The tick queue split into shards: ingest routes each series to one shard by hash, two writers consume
 * all of them. Every trade the simulator made in the window is stored once, through every shard.
 */
describe('sharded tick queues (real processes)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  const writers: ServiceProcess[] = [];
  let ingest: ServiceProcess;
  let queues: Queue[];

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0', TICK_QUEUE_SHARDS: String(SHARDS) };
    for (let i = 0; i < 2; i++) writers.push(new ServiceProcess(repoPath('apps/writer/src/main.ts'), env));
    await Promise.all(writers.map((w) => w.waitForLog((l) => l.msg === 'writer started')));
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...env, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: SYMBOLS.join(','), SIM_SEED: String(SEED), INGEST_FLUSH_MS: '100',
    });
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started');
    queues = tickShards(redis.prefix, SHARDS).map((s) => new Queue(s.name, { connection: redis.redis, prefix: s.prefix }));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(queues?.map((q) => q.close()) ?? []);
    await ingest?.stop();
    await Promise.all(writers.map((w) => w.stop()));
    await redis?.cleanup();
    await db?.drop();
  });

  it('routes series over every shard and stores each trade once', async () => {
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    await ingest.stop();
    const stopped = Date.now();
    await eventually(async () => {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed')));
      return counts.every((c) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0);
    }, 'every shard drained', 30_000, 200);
    const completed = await Promise.all(queues.map((q) => q.getJobCountByTypes('completed')));
    expect(completed.every((n) => n > 0), `completed jobs per shard: ${completed.join(', ')}`).toBe(true);

    const sim = createSimSource({ assetClass: 'crypto', seed: SEED });
    // Inside the window the sim traded in: from a second after the start to a second before the stop.
    const from = new Date(started + 1000);
    const to = new Date(stopped - 1000);
    for (const symbol of SYMBOLS) {
      const expected: Observation[] = [];
      for await (const page of sim.history({ symbol, from, to })) expected.push(...page);
      const stored = await db.sql<{ trade_id: string; n: number }[]>`
        select trade_id, count(*)::int as n from ticks
        where source = 'sim' and symbol = ${symbol} and ts >= ${from} and ts < ${to} group by trade_id`;
      expect(stored.filter((r) => r.n !== 1)).toEqual([]);
      expect(stored.map((r) => r.trade_id).sort()).toEqual(expected.map((o) => o.tradeId).sort());
    }
    const verified = await verifyCandles(db.sql, { from: new Date(started - 3_600_000), to: new Date(stopped + 3_600_000) });
    expect(verified.mismatches).toEqual([]);
  }, 90_000);
});

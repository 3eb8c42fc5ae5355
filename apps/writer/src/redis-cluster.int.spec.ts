import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { tickShards } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import { createProducerConnection, type RedisClient } from '@tickvault/queue';
import { createSimSource, type Observation } from '@tickvault/sources';
import { createTestDatabase, eventually, RedisCluster, repoPath, ServiceProcess, spreadPrefix, type TestDatabase } from '@tickvault/testing';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT'];
const SEED = 29;
const SHARDS = 3;

/**
 * The whole pipeline on a real Redis Cluster (3 masters, 3 replicas): ingest routes series to three
 * tick shards, whose hash tags put them on different masters; two writers consume them; every trade the
 * simulator made in the window is stored once with exact candles.
 */
describe('pipeline on a Redis Cluster (real processes)', () => {
  const cluster = new RedisCluster();
  let db: TestDatabase | undefined;
  let client: RedisClient | undefined;
  const writers: ServiceProcess[] = [];
  let ingest: ServiceProcess | undefined;
  let queues: Queue[] = [];
  let prefix = '';

  beforeAll(async () => {
    await cluster.start();
    db = await createTestDatabase(migrate);
    prefix = await spreadPrefix(cluster, SHARDS);
    client = createProducerConnection('redis://127.0.0.1:1', 'tickvault-cluster-test', cluster.nodes);
    client.on('error', () => {});
    const env = { DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: cluster.nodesSetting, QUEUE_PREFIX: prefix, HEALTH_PORT: '0', TICK_QUEUE_SHARDS: String(SHARDS) };
    for (let i = 0; i < 2; i++) writers.push(new ServiceProcess(repoPath('apps/writer/src/main.ts'), env));
    await Promise.all(writers.map((w) => w.waitForLog((l) => l.msg === 'writer started', 90_000)));
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...env, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: SYMBOLS.join(','), SIM_SEED: String(SEED), INGEST_FLUSH_MS: '100',
    });
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 90_000);
    queues = tickShards(prefix, SHARDS).map((s) => new Queue(s.name, { connection: client!, prefix: s.prefix }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close().catch(() => {})));
    await ingest?.stop().catch(() => {});
    await Promise.all(writers.map((w) => w.stop().catch(() => {})));
    client?.disconnect();
    await db?.drop().catch(() => {});
    await cluster.destroy();
  }, 60_000);

  it('puts the shards on different masters and stores each trade once, candles exact', { timeout: 120_000 }, async () => {
    const masters = await Promise.all(tickShards(prefix, SHARDS).map((s) => cluster.masterOf(`${s.prefix}:${s.name}:wait`)));
    expect(new Set(masters).size, `masters of the shards: ${masters.join(', ')}`).toBeGreaterThanOrEqual(2);

    const started = Date.now();
    // Trades for a while, with every shard seen completing jobs (rather than a fixed wait).
    await eventually(async () => {
      const completed = await Promise.all(queues.map((q) => q.getJobCountByTypes('completed')));
      return Date.now() - started > 5_000 && completed.every((n) => n >= 3);
    }, 'every shard completing jobs', 60_000, 200);
    await ingest!.stop();
    const stopped = Date.now();
    await eventually(async () => {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')));
      return counts.every((c) => Object.values(c).every((n) => n === 0));
    }, 'every shard drained', 60_000, 200);

    const sim = createSimSource({ assetClass: 'crypto', seed: SEED });
    // Inside the window the sim traded in: from a second after the start to a second before the stop.
    const from = new Date(started + 1000);
    const to = new Date(stopped - 1000);
    let total = 0;
    for (const symbol of SYMBOLS) {
      const expected: Observation[] = [];
      for await (const page of sim.history({ symbol, from, to })) expected.push(...page);
      const stored = await db!.sql<{ trade_id: string; n: number }[]>`
        select trade_id, count(*)::int as n from ticks
        where source = 'sim' and symbol = ${symbol} and ts >= ${from} and ts < ${to} group by trade_id`;
      expect(stored.filter((r) => r.n !== 1)).toEqual([]);
      expect(stored.map((r) => r.trade_id).sort()).toEqual(expected.map((o) => o.tradeId).sort());
      total += stored.length;
    }
    expect(total).toBeGreaterThan(0);
    const verified = await verifyCandles(db!.sql, { from: new Date(started - 3_600_000), to: new Date(stopped + 3_600_000) });
    expect(verified.mismatches).toEqual([]);
  });
});

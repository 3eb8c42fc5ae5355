import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { JOB_NAMES, tickShards } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import { serviceEntryKey, servicesIndexKey } from '@tickvault/queue';
import { createTestDatabase, createTestRedis, syntheticTicks, toJobs, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { checkShardCoverage } from './shard-coverage.js';

/**
 * The health check's part of the shard coverage: the case writers cannot report themselves (no writer
 * at all), and events deduplicated with the writers' own. Registry entries are written as the services
 * write them, started a minute ago, so no grace applies.
 */
describe('scheduler: tick shards without a live writer', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let connection: Redis;
  const logger = pino({ level: 'silent' });
  const put = async (id: string, details: object) => {
    const startedAt = new Date(Date.now() - 60_000).toISOString();
    const entry = { v: 1, id, host: 'h', pid: 1, version: '1', environment: 'test', startedAt, heartbeatAt: new Date().toISOString(), queues: [], ...details };
    await connection.multi().set(serviceEntryKey(redis.prefix, id), JSON.stringify(entry), 'PX', 60_000).zadd(servicesIndexKey(redis.prefix), Date.now() + 60_000, id).exec();
  };
  const remove = (id: string) => connection.multi().del(serviceEntryKey(redis.prefix, id)).zrem(servicesIndexKey(redis.prefix), id).exec();
  const deps = () => ({ sql: db.sql, redis: connection, prefix: redis.prefix, logger, service: 'scheduler' });
  const events = () => db.sql<{ details: { shard: number; pending: number; queue: string } }[]>`select details from system_events where kind = 'orphaned_shard' order by (details->>'shard')::int`;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    connection?.disconnect();
    await redis?.cleanup();
    await db?.drop();
  });

  it('names every shard of the producers when no writer runs, with its waiting jobs, once per window', async () => {
    await put('ingest', { service: 'ingest-crypto', ingest: { assetClass: 'crypto', symbols: [], shards: 2, sources: [] } });
    const shard1 = tickShards(redis.prefix, 2)[1]!;
    const queue = new Queue(shard1.name, { connection, prefix: shard1.prefix });
    await queue.addBulk(toJobs(syntheticTicks({ count: 30, symbols: ['BTC/USDT'], startMs: Date.now() - 60_000 }), 10).map((data) => ({ name: JOB_NAMES.tickBatch, data })));
    await queue.close();

    expect(await checkShardCoverage(deps())).toEqual([0, 1]);
    // Again in the same window: no second row.
    expect(await checkShardCoverage(deps())).toEqual([0, 1]);
    expect((await events()).map((e) => e.details)).toMatchObject([{ shard: 0, pending: 0, queue: 'ticks' }, { shard: 1, pending: 3, queue: 'ticks-1' }]);
  });

  it('names only the shards the live writers leave out, and nothing once every shard has one', async () => {
    await db.sql`delete from system_events`;
    await put('writer-a', { service: 'writer', writer: { shards: [0] } });
    expect(await checkShardCoverage(deps())).toEqual([1]);
    await put('writer-b', { service: 'writer', writer: { shards: [1] } });
    expect(await checkShardCoverage(deps())).toEqual([]);
    expect((await events()).map((e) => e.details.shard)).toEqual([1]);
    for (const id of ['ingest', 'writer-a', 'writer-b']) await remove(id);
    expect(await checkShardCoverage(deps()), 'nothing registered: nothing produces').toEqual([]);
  });
});

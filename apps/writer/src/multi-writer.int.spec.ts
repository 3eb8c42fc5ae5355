import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_NAMES, QUEUE_NAMES, type TickBatchJob } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, syntheticTicks, toJobs,
  type TestDatabase, type TestRedis,
} from '@tickvault/testing';

const HOUR = 3_600_000;

describe('several writers on one queue', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let connection: Redis;
  let queue: Queue<TickBatchJob>;
  const writers: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    for (let i = 0; i < 3; i++) {
      writers.push(new ServiceProcess(repoPath('apps/writer/src/main.ts'), {
        DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0',
        // Small batches, so the three writers interleave on the same candles all the time.
        WRITER_CONCURRENCY: '4', WRITER_LOCK_DURATION_MS: '5000',
      }));
    }
    await Promise.all(writers.map((w) => w.waitForLog((l) => l.msg === 'writer started')));
  });

  afterAll(async () => {
    await Promise.all(writers.map((w) => w.stop()));
    await queue?.close();
    connection?.disconnect();
    await redis?.cleanup();
    await db?.drop();
  });

  it('store every tick once and build the same candles as a single writer would', async () => {
    const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];
    const ledger = syntheticTicks({ count: 30_000, symbols, startMs: Date.now() - 2 * HOUR, stepMs: 200, source: 'multi' });
    // Every job twice, in shuffled order: redelivery and reordering across writers at once.
    const jobs = [...toJobs(ledger, 100), ...toJobs(ledger, 100)].sort(() => Math.random() - 0.5);
    await queue.addBulk(jobs.map((data) => ({ name: JOB_NAMES.tickBatch, data })));
    await eventually(async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed');
      return counts.completed === jobs.length;
    }, 'all jobs completed', 90_000, 250);
    const [stored] = await db.sql`select count(*)::int as n, sum(size)::text as volume from ticks where source = 'multi'`;
    expect(stored!.n).toBe(ledger.length);
    const [candles] = await db.sql`select sum(volume)::text as v, sum(trade_count)::int as n from candles where source = 'multi' and timeframe = '1h'`;
    expect(candles!.v).toBe(stored!.volume);
    expect(candles!.n).toBe(ledger.length);
    const verify = await verifyCandles(db.sql, { from: new Date(Date.now() - 3 * HOUR), to: new Date(Date.now() + HOUR), source: 'multi' });
    expect(verify.mismatches).toEqual([]);
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
  });
});

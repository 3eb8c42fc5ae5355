import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_NAMES, QUEUE_NAMES, type TickBatchJob } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, syntheticTicks, toJobs,
  type TestDatabase, type TestRedis,
} from '@tickvault/testing';

const WRITER = repoPath('apps/writer/src/main.ts');
const HOUR = 3_600_000;

/**
 * A batch that keeps failing for a reason other than its data while Postgres answers (here: one
 * series locked by another session, so the write hits the statement timeout) must not circle the
 * queue for ever: the other jobs of its batch are stored, the stuck job spends its attempts and lands
 * in the failed set, and its statement does not outlive the flush deadline.
 */
describe('writer with a stuck batch (real process, real Redis and Postgres)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let connection: Redis;
  let queue: Queue<TickBatchJob>;
  let writer: ServiceProcess;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    writer = new ServiceProcess(WRITER, {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      WRITER_FLUSH_DEADLINE_SECONDS: '2',
      // Long enough for both jobs to share one batch even on a busy machine.
      WRITER_BATCH_WAIT_MS: '1000',
      LOG_LEVEL: 'info',
    });
    await writer.waitForLog((l) => l.msg === 'writer started');
  });

  afterAll(async () => {
    await writer?.stop();
    await queue?.close();
    connection?.disconnect();
    await redis?.cleanup();
    await db?.drop();
  });

  it('stores the rest of the batch, fails the stuck job after its attempts, and leaves no statement running', async () => {
    const blocker = await db.sql.reserve();
    try {
      // Trades take their series' lock shared; an exclusive session lock keeps them waiting.
      await blocker`select pg_advisory_lock(hashtextextended('stuck/LCK/USDT', 0))`;
      const start = Date.now() - HOUR;
      const stuck = syntheticTicks({ count: 50, symbols: ['LCK/USDT'], startMs: start, source: 'stuck' });
      const free = syntheticTicks({ count: 50, symbols: ['FRE/USDT'], startMs: start, source: 'stuck' });
      const opts = { attempts: 2, backoff: { type: 'fixed', delay: 200 } };
      const [stuckJob] = await queue.addBulk([
        ...toJobs(stuck, 50).map((data) => ({ name: JOB_NAMES.tickBatch, data, opts })),
        ...toJobs(free, 50).map((data) => ({ name: JOB_NAMES.tickBatch, data, opts })),
      ]);

      await eventually(async () => (await countTicks(`symbol = 'FRE/USDT'`)) === free.length, 'the free job stored', 60_000, 200);
      await eventually(async () => (await queue.getJobState(stuckJob!.id!)) === 'failed', 'the stuck job in the failed set', 60_000, 200);
      const failed = await queue.getJob(stuckJob!.id!);
      expect(failed!.attemptsMade).toBe(2);
      expect(failed!.failedReason).toMatch(/statement timeout/);
      expect(await countTicks(`symbol = 'LCK/USDT'`)).toBe(0);

      // Postgres answered throughout: the writer never took this for an outage.
      expect(writer.lines.some((l) => l.msg?.toString().startsWith('Postgres unreachable'))).toBe(false);
      const [active] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and application_name = 'tickvault-writer' and state <> 'idle'
          and xact_start < now() - interval '5 seconds'`;
      expect(active!.n).toBe(0);
    } finally {
      await blocker`select pg_advisory_unlock_all()`;
      blocker.release();
    }
  });

  async function countTicks(where: string): Promise<number> {
    const [row] = await db.sql.unsafe(`select count(*)::int as n from ticks where ${where}`);
    return row!.n as number;
  }
});

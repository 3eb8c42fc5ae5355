import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createTestRedis, eventually, type TestRedis } from '@tickvault/testing';
import { JOB_NAMES, type TickBatchJob } from '@tickvault/schema';
import { createTickQueue, type TickQueue } from './queues.js';
import { FAILED_JOBS_KEPT } from './options.js';

describe('default job options', () => {
  let redis: TestRedis;
  let queue: TickQueue;

  beforeAll(async () => {
    redis = await createTestRedis();
    queue = createTickQueue(redis.redis, redis.prefix);
  });
  afterAll(async () => {
    await queue?.close();
    await redis?.cleanup();
  });

  it('keep at most FAILED_JOBS_KEPT failed tick jobs: a failure that hits every job cannot fill Redis', async () => {
    const extra = 25;
    const total = FAILED_JOBS_KEPT + extra;
    const job: TickBatchJob = { v: 1, producer: 'test', ticks: [], rejected: [] };
    for (let i = 0; i < total; i += 500) {
      const n = Math.min(500, total - i);
      await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: JOB_NAMES.tickBatch, data: job, opts: { jobId: `job-${i + k}` } })));
    }
    let processed = 0;
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    // Fails every job at once, as a schema mismatch would after its attempts; the queue's own options decide what is kept.
    const worker = new Worker(queue.name, async () => {
      processed++;
      throw new UnrecoverableError('relation "tick_rows" does not exist');
    }, { connection, prefix: redis.prefix, concurrency: 50 });
    try {
      await eventually(async () => {
        const counts = await queue.getJobCounts('waiting', 'active');
        return processed >= total && counts.waiting === 0 && counts.active === 0;
      }, 'every job failed', 60_000);
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(await queue.getFailedCount()).toBe(FAILED_JOBS_KEPT);
    // The oldest failures are the ones discarded.
    expect(await queue.getJob('job-0')).toBeUndefined();
    expect(await queue.getJob(`job-${total - 1}`)).toBeDefined();
  });
});

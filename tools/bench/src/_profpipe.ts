import { Redis } from 'ioredis';
import { createDb } from '@tickvault/db';
import { createTickQueue, enqueue, resetState, symbolsOf, ticksAt, toJobs, waitQueueDrained, type BenchContext } from './lib.js';
const url = 'postgres://postgres@127.0.0.1:5432/tickvault_bench';
const sql = createDb(url, { max: 2, statementTimeoutMs: 0 });
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const ctx: BenchContext = { quick: false, databaseUrl: url, redisUrl: 'redis://127.0.0.1:6379', prefix: '{tickvault-bench}', sql, redis, queue: createTickQueue(redis, '{tickvault-bench}'), figures: [], shared: {} };
if (process.argv[2] === 'reset') { await resetState(ctx); }
else {
  const ticks = ticksAt(0, 300_000, { symbols: symbolsOf(20), startMs: Date.now() - 3 * 3600_000, stepMs: 24 });
  const t = performance.now();
  await enqueue(ctx.queue, toJobs(ticks, 500));
  await waitQueueDrained(ctx.queue);
  console.log('rate', Math.round(300_000 / ((performance.now() - t) / 1000)));
}
await ctx.queue.close(); redis.disconnect(); await sql.end();

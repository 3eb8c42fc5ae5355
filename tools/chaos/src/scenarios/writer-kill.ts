// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs } from '@tickvault/testing';
import { HOUR_MS, Producer, checkLedger, countTicks, queueCounts, reportLedger, seconds, sleep, waitDrained, waitFor, withIds, writerEnv, type Run } from '../lib.js';

const SOURCE = 'chaos-kill';

/**
 * 1. SIGKILL the writer mid-batch, again and again, while a producer keeps adding jobs. Each kill
 * lands while the writer holds active jobs; their locks (3 s) expire and the next writer redoes them.
 */
export async function writerKill(run: Run): Promise<void> {
  const kills = run.size(5, 20);
  const count = run.size(100_000, 400_000);
  const db = await run.database('kill');
  const prefix = run.prefix();
  const queue = run.tickQueue(run.redis(run.settings.redisUrl), prefix);
  const stalled = run.stalledCounter(run.settings.redisUrl, prefix);
  const env = writerEnv(db.url, run.settings.redisUrl, prefix, { WRITER_LOCK_DURATION_MS: '3000' });

  const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT'];
  const ledger = syntheticTicks({ count, symbols, startMs: Date.now() - 10 * HOUR_MS, stepMs: Math.floor((9 * HOUR_MS) / count), source: SOURCE });
  const jobs = withIds(toJobs(ledger, 250, 'chaos'), 'kill');
  // The producer finishes about when the last kill is done: the kills happen under load.
  const producer = new Producer(queue, jobs, { jobsPerSecond: jobs.length / run.size(25, 100), perAdd: 10 });
  run.defer(() => producer.stop());

  let killsWithActiveJobs = 0;
  const storedAtKill: number[] = [];
  for (let k = 0; k < kills; k++) {
    const { proc } = await run.writer(env);
    const before = await countTicks(db.sql, SOURCE);
    // Let it commit something, then kill it at a random moment while it holds jobs.
    await waitFor(async () => (await countTicks(db.sql, SOURCE)) > before, 'a commit by the new writer', 60_000, 50);
    await sleep(200 + Math.random() * 2000);
    // Kill when it holds jobs (polled: between two batches the writer may briefly hold none).
    const holding = await waitFor(async () => ((await queueCounts(queue)).active ?? 0) > 0, 'active jobs', 3000, 5).catch(() => false);
    if (holding) killsWithActiveJobs++;
    proc.kill('SIGKILL');
    await proc.exited;
    storedAtKill.push(await countTicks(db.sql, SOURCE));
  }
  run.step(`${kills} kills done; a last writer finishes`);
  const lastKill = Date.now();
  await run.writer(env);
  await producer.done;
  await waitDrained(queue, 180_000);
  const recovered = Date.now() - lastKill;

  const counts = await queueCounts(queue);
  run.figure('kills (with active jobs at the kill)', `${kills} (${killsWithActiveJobs})`);
  run.figure('ticks stored at each kill', storedAtKill.join(', '));
  run.figure('jobs redelivered after lock expiry (stalled events)', stalled.count());
  run.figure('drain after the last kill', seconds(recovered));
  run.check(killsWithActiveJobs > 0, 'no kill happened while the writer held active jobs');
  run.check(storedAtKill[0]! < ledger.length, 'the first kill came after everything was already stored');
  run.check((counts.failed ?? 0) === 0, `${counts.failed} jobs in the failed set`);
  reportLedger(run, await checkLedger(db.sql, ledger, { sources: [SOURCE], candleVolume: true }));
}

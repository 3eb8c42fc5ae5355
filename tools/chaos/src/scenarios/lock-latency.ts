// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, TcpProxy, toJobs } from '@tickvault/testing';
import {
  HOUR_MS, Producer, checkLedger, metricValue, queueCounts, readiness, reportLedger, scrape, seconds, sleep, waitDrained, waitFor, withIds,
  writerEnv, type Run,
} from '../lib.js';

const SOURCE = 'chaos-lock';
const LOCK_MS = 3000;

/**
 * 5. Redis traffic of one writer stalls for longer than its job lock (WRITER_LOCK_DURATION_MS=3000):
 * a proxy holds every byte between writer A and Redis, then lets them through. A's locks expire, the
 * other writer (B) finds the jobs stalled and does them again; A commits its copy too once Postgres
 * answers (Postgres is not stalled) and fails to complete jobs it no longer owns. Nothing may be
 * doubled, nothing lost, and A must recover by itself.
 */
export async function lockLatency(run: Run): Promise<void> {
  const stallMs = run.size(6000, 20_000);
  const stalls = run.size(2, 4);
  const db = await run.database('lock');
  const prefix = run.prefix();
  const redisUrl = run.settings.redisUrl;
  const queue = run.tickQueue(run.redis(redisUrl), prefix);
  const stalled = run.stalledCounter(redisUrl, prefix);
  const proxy = TcpProxy.forUrl(redisUrl);
  await proxy.start();
  run.defer(() => proxy.cut());
  const lock = { WRITER_LOCK_DURATION_MS: String(LOCK_MS) };
  // A batches for 300 ms so it holds jobs most of the time; B is a normal writer.
  const a = await run.writer(writerEnv(db.url, proxy.rewrite(redisUrl), prefix, { ...lock, WRITER_BATCH_WAIT_MS: '300' }));
  const b = await run.writer(writerEnv(db.url, redisUrl, prefix, lock));

  const ticksPerSecond = 2000;
  const count = Math.round((ticksPerSecond * (stalls * (stallMs + 4000) + 4000)) / 1000);
  const ledger = syntheticTicks({ count, symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'], startMs: Date.now() - 4 * HOUR_MS, stepMs: Math.floor((3 * HOUR_MS) / count), source: SOURCE });
  const jobs = withIds(toJobs(ledger, 100, 'chaos'), 'lock');
  const producer = new Producer(queue, jobs, { jobsPerSecond: ticksPerSecond / 100, perAdd: 2 });
  run.defer(() => producer.stop());

  let stallsWithActive = 0;
  for (let i = 0; i < stalls; i++) {
    await sleep(2000);
    await waitFor(async () => ((await queueCounts(queue)).active ?? 0) > 0, 'active jobs', 5000, 10).catch(() => undefined);
    const active = (await queueCounts(queue)).active ?? 0;
    if (active > 0) stallsWithActive++;
    run.step(`stalling writer A's Redis traffic for ${stallMs / 1000} s (${active} jobs active)`);
    proxy.pause();
    await sleep(stallMs);
    proxy.resume();
    await sleep(2000);
  }
  await producer.done;
  await waitDrained(queue, 120_000);
  // A must be healthy again on its own.
  const aReady = await waitFor(async () => (await readiness(a.port)) === 200, 'writer A ready again', 20_000, 250).then(() => true, () => false);
  const metrics = await Promise.all([scrape(a.port), scrape(b.port)]);
  const duplicates = metrics.reduce((n, text) => n + metricValue(text, 'tickvault_ticks_duplicate_total'), 0);
  const counts = await queueCounts(queue);
  const lockLines = a.proc.lines.filter((l) => /lock/i.test(`${String(l.msg)} ${String(l.err ?? '')}`));
  const lockErrors = lockLines.length;
  const kinds = [...new Set(lockLines.map((l) => `${String(l.msg)}: ${String(l.err ?? '').replace(/\d+/g, 'N').slice(0, 90)}`))];
  if (kinds.length > 0) run.note(`writer A after the stall logged: ${kinds.slice(0, 3).map((k) => `"${k}"`).join('; ')}`);

  run.figure('stalls × length (lock 3 s)', `${stalls} × ${seconds(stallMs)}`);
  run.figure('jobs redelivered (stalled events)', stalled.count());
  run.figure('duplicate ticks absorbed by the natural key', duplicates);
  run.figure("writer A log lines about lost locks", lockErrors);
  run.check(stallsWithActive > 0, 'no stall happened while jobs were active');
  run.check(stalled.count() > 0, 'no job was redelivered: the stall did not outlast a lock');
  run.check(aReady, 'writer A did not become ready again after the stall');
  run.check(a.proc.lines.every((l) => l.msg !== 'uncaught exception' && l.msg !== 'unhandled rejection'), 'writer A crashed (uncaught exception)');
  run.check((counts.failed ?? 0) === 0, `${counts.failed} jobs failed`);
  reportLedger(run, await checkLedger(db.sql, ledger, { sources: [SOURCE], candleVolume: true }));
}

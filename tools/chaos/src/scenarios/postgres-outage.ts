// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, TcpProxy, toJobs } from '@tickvault/testing';
import {
  HOUR_MS, Producer, ReadinessWatch, checkLedger, queueCounts, reportLedger, seconds, sleep, waitDrained, waitFor, withIds, writerEnv, type Run,
} from '../lib.js';

const SOURCE = 'chaos-pg';

/**
 * 3. Postgres goes away under load: a TcpProxy between the writer and the shared server resets every
 * connection and refuses new ones for 60 s (short: 10 s), then a few short cuts like a restart.
 * Jobs must wait in the queue (none failed), readiness must go false and come back, and everything
 * produced before, during and after must be stored once.
 */
export async function postgresOutage(run: Run): Promise<void> {
  const outageMs = run.size(10_000, 60_000);
  const restarts = run.size(2, 6);
  const db = await run.database('pg');
  const prefix = run.prefix();
  const queue = run.tickQueue(run.redis(run.settings.redisUrl), prefix);
  const proxy = TcpProxy.forUrl(db.url);
  await proxy.start();
  run.defer(() => proxy.cut());
  const { port } = await run.writer(writerEnv(proxy.rewrite(db.url), run.settings.redisUrl, prefix, { WRITER_LOCK_DURATION_MS: '10000' }));

  // Load for the whole scenario: about 2,000 ticks/s.
  const ticksPerSecond = 2000;
  const planMs = 3000 + outageMs + restarts * 5000 + 5000;
  const count = Math.round((ticksPerSecond * planMs) / 1000);
  const ledger = syntheticTicks({ count, symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT'], startMs: Date.now() - 6 * HOUR_MS, stepMs: Math.floor((5 * HOUR_MS) / count), source: SOURCE });
  const jobs = withIds(toJobs(ledger, 200, 'chaos'), 'pg');
  const producer = new Producer(queue, jobs, { jobsPerSecond: ticksPerSecond / 200, perAdd: 5 });
  run.defer(() => producer.stop());
  const watch = new ReadinessWatch(port, 200);
  run.defer(() => watch.stop());

  await sleep(3000);
  run.step(`cutting Postgres for ${outageMs / 1000} s`);
  const cutAt = Date.now();
  await proxy.cut();
  let maxBacklog = 0;
  while (Date.now() - cutAt < outageMs) {
    await sleep(1000);
    const counts = await queueCounts(queue);
    maxBacklog = Math.max(maxBacklog, (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.active ?? 0));
  }
  const failedDuringOutage = (await queueCounts(queue)).failed ?? 0;
  await proxy.restore();
  const restoredAt = Date.now();
  // The writer probes Postgres with a backoff capped at 10 s: readiness returns within about that.
  const readyAgainAt = await waitFor(() => watch.firstAt((s) => s === 200, restoredAt), 'ready after the outage', 30_000, 100).catch(() => undefined);
  run.step('ready again; now restart-like cuts');
  const cutsStartedAt = Date.now();
  for (let i = 0; i < restarts; i++) {
    await sleep(3500);
    await proxy.cut();
    await sleep(1500);
    await proxy.restore();
  }
  await producer.done;
  await waitDrained(queue, 180_000);
  const drainedAt = Date.now();
  await sleep(500);
  await watch.stop();

  const notReadyAt = watch.firstAt((s) => s !== 200, cutAt);
  const counts = await queueCounts(queue);
  const [recovered] = await db.sql<{ n: number }[]>`select count(*)::int as n from system_events where kind = 'postgres_recovered'`;
  run.figure('outage', seconds(outageMs));
  run.figure('cut → /readyz 503', notReadyAt === undefined ? 'never' : seconds(notReadyAt - cutAt));
  run.figure('restore → /readyz 200', readyAgainAt === undefined ? 'never' : seconds(readyAgainAt - restoredAt));
  run.figure('largest backlog during the outage (jobs)', maxBacklog);
  run.figure('restart-like cuts (1.5 s each)', restarts);
  run.figure('restart-like cuts → queue drained', seconds(drainedAt - cutsStartedAt));
  run.figure('postgres_recovered events', recovered!.n);
  run.check(notReadyAt !== undefined && notReadyAt - cutAt < 15_000, 'readiness did not turn false within 15 s of the cut');
  run.check(readyAgainAt !== undefined, 'readiness did not come back after the outage');
  run.check(watch.samples.at(-1)?.status === 200, `readiness at the end: ${String(watch.samples.at(-1)?.status)}`);
  run.check(failedDuringOutage === 0 && (counts.failed ?? 0) === 0, `${counts.failed} jobs failed (an outage must not spend attempts)`);
  run.check(recovered!.n >= 1, 'no postgres_recovered event recorded');
  reportLedger(run, await checkLedger(db.sql, ledger, { sources: [SOURCE], candleVolume: true }));
}

import type { Sql } from '@tickvault/db';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs } from '@tickvault/testing';
import {
  HOUR_MS, Producer, checkLedger, queueCounts, reportLedger, seconds, sleep, waitDrained, withIds, writerEnv, type Run,
} from '../lib.js';

type Mode = 'always' | 'everysec' | 'off';

/**
 * 4. Redis is killed -9 under load and restarted from the same directory. A producer adds jobs (with
 * ids, retrying what failed, as the ingest outbox does); a deliberately slow writer leaves a backlog in
 * Redis at the kill, so the kill has something to lose.
 *   always:   AOF with appendfsync always. Claim: every job Redis acknowledged is stored. Checked.
 *   everysec: the same with appendfsync everysec: acknowledged jobs lost are counted (measured).
 *   off:      no persistence at all, as a control: it must show loss, or the check above proves nothing.
 */
export async function redisRestart(run: Run): Promise<void> {
  const db = await run.database('aof');
  const rates: Record<Mode, number> = { always: 0, everysec: 0, off: 0 };
  for (const mode of ['always', 'everysec', 'off'] as const) {
    run.step(`AOF ${mode}`);
    rates[mode] = await phase(run, db, mode);
  }
  run.note(
    `kill -9 of redis-server is a process crash: with everysec, Redis has already written (not fsynced) every acknowledged command ` +
      `to the kernel, so a process crash loses nothing; only an OS crash or power loss loses the last ~1 s (up to 2 s when fsync lags), ` +
      `which at this run's rate (${Math.round(rates.everysec)} acknowledged ticks/s) is about ${Math.round(rates.everysec)}–${Math.round(2 * rates.everysec)} ticks.`,
  );
}

async function phase(run: Run, db: { url: string; sql: Sql }, mode: Mode): Promise<number> {
  const source = `chaos-aof-${mode}`;
  const server = await run.redisServer({ appendfsync: mode === 'off' ? null : mode });
  const prefix = '{chaos}';
  const queue = run.tickQueue(run.redis(server.url, { producer: true }), prefix);
  const env = writerEnv(db.url, server.url, prefix, { WRITER_LOCK_DURATION_MS: '3000' });
  // A slow writer (one job at a time, 200 ms batching): the backlog grows while the producer runs.
  await run.writer({ ...env, WRITER_CONCURRENCY: '1', WRITER_BATCH_WAIT_MS: '200' });

  const perJob = 200;
  const jobsPerSecond = 15;
  const count = perJob * jobsPerSecond * run.size(10, 40);
  const ledger = syntheticTicks({ count, symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'], startMs: Date.now() - 5 * HOUR_MS, stepMs: Math.floor((4 * HOUR_MS) / count), source });
  const jobs = withIds(toJobs(ledger, perJob, 'chaos'), mode);
  const producer = new Producer(queue, jobs, { jobsPerSecond, perAdd: 3, retryMs: 100 });
  run.defer(() => producer.stop());
  const started = Date.now();

  await sleep(run.size(4000, 15_000));
  const before = await queueCounts(queue);
  const ackedAtKill = new Set(producer.acked);
  const killedAt = Date.now();
  await server.kill9();
  await sleep(2000);
  await server.start();
  const restartedAt = Date.now();
  // Counted on a fresh connection (the producer's reconnects with a backoff).
  const after = await queueCounts(run.tickQueue(run.redis(server.url), prefix));
  // A second, normal writer drains the rest quickly.
  await run.writer(env);
  await producer.done;
  const ackRate = (producer.acked.size * perJob) / ((Date.now() - started) / 1000);
  await waitDrained(queue, 120_000);
  const counts = await queueCounts(queue);

  const result = await checkLedger(db.sql, ledger, { sources: [source], candleVolume: true, listMissing: true });
  const missing = new Set(result.missingIds);
  // Acknowledged at any time: a reply Redis sent just before dying can arrive after the kill signal.
  // The producer re-adds only what was never acknowledged, so only acknowledged jobs can be missing.
  const lostJobs = jobs.filter((j) => producer.acked.has(j.id) && (j.data.ticks as { tradeId: string }[]).some((t) => missing.has(t.tradeId)));
  const lostTicks = lostJobs.reduce((n, j) => n + j.data.ticks.filter((t) => missing.has((t as { tradeId: string }).tradeId)).length, 0);
  const queuedAtKill = (before.waiting ?? 0) + (before.active ?? 0) + (before.delayed ?? 0);
  const label = `${mode}:`;
  run.figure(`${label} acked jobs at the kill / queued in Redis`, `${ackedAtKill.size} / ${queuedAtKill}`);
  run.figure(`${label} jobs in Redis after restart`, `${(after.waiting ?? 0) + (after.active ?? 0) + (after.delayed ?? 0)} (restart took ${seconds(restartedAt - killedAt)})`);
  run.figure(`${label} acknowledged jobs lost (ticks)`, `${lostJobs.length} (${lostTicks})`);
  run.figure(`${label} producer add errors during the outage`, producer.errors);
  run.check((counts.failed ?? 0) === 0, `${label} ${counts.failed} jobs failed`);
  run.check(queuedAtKill > 0, `${label} nothing was queued in Redis at the kill: the kill tested nothing`);
  if (mode === 'always') {
    run.check(lostJobs.length === 0, `${label} ${lostJobs.length} acknowledged jobs lost with appendfsync always`);
    reportLedger(run, result, label);
  } else {
    reportLedger(run, result, label, { lossIsMeasured: true });
    // Only acknowledged jobs that Redis lost can be missing: the producer retried everything else.
    run.check(result.missing === lostTicks, `${label} ${result.missing - lostTicks} ticks missing that were never acknowledged`);
    if (mode === 'off' && lostJobs.length === 0) run.note('the no-persistence control lost nothing this time: the backlog at the kill was consumed first');
  }
  return ackRate;
}

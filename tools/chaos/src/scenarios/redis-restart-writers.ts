import { JOB_NAMES } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs } from '@tickvault/testing';
import {
  HOUR_MS, Producer, checkLedger, countTicks, fmt, metricValue, queueCounts, readiness, reportLedger, scrape, seconds, sleep, waitDrained, waitFor, withIds,
  writerEnv, type Run,
} from '../lib.js';

const SOURCE = 'chaos-aofw';

/**
 * 12. Redis restarted under three writers draining a backlog, with AOF on and `appendfsync always`.
 * A backlog is queued before the writers start; a producer keeps adding (retrying what failed, with
 * the same ids) while they drain. At fixed points of the drain Redis is killed -9 (full form also
 * once shut down cleanly) and restarted from its AOF. Every acknowledged job must be stored once
 * (a job committed whose completion Redis lost is redone and absorbed by the natural key), no job
 * may fail, every writer must keep writing after the restart, and memory must stay flat.
 */
export async function redisRestartWriters(run: Run): Promise<void> {
  const stops: ('kill -9' | 'SHUTDOWN')[] = run.size(['kill -9'], ['kill -9', 'SHUTDOWN', 'kill -9']);
  const perJob = 250;
  const backlogTicks = run.size(150_000, 450_000);
  const producedTicks = run.size(20_000, 60_000);
  const db = await run.database('aofw');
  const server = await run.redisServer({ appendfsync: 'always' });
  const prefix = '{chaos}';
  // Counts are read on a connection that waits out a restart; the producer's fails fast, like ingest's.
  const queue = run.tickQueue(run.redis(server.url), prefix);
  const producerQueue = run.tickQueue(run.redis(server.url, { producer: true }), prefix);
  const stalled = run.stalledCounter(server.url, prefix);

  const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT'];
  const total = backlogTicks + producedTicks;
  const ledger = syntheticTicks({ count: total, symbols, startMs: Date.now() - 10 * HOUR_MS, stepMs: Math.floor((9 * HOUR_MS) / total), source: SOURCE });
  const backlog = withIds(toJobs(ledger.slice(0, backlogTicks), perJob, 'chaos'), 'backlog');
  const later = withIds(toJobs(ledger.slice(backlogTicks), perJob, 'chaos'), 'later');
  for (let i = 0; i < backlog.length; i += 100) {
    await producerQueue.addBulk(backlog.slice(i, i + 100).map((j) => ({ name: JOB_NAMES.tickBatch, data: j.data, opts: { jobId: j.id } })));
  }
  run.step(`backlog of ${backlog.length} jobs (${backlogTicks} ticks) queued; starting 3 writers`);

  // Small writers (4 jobs at a time each), so the drain lasts long enough for the restarts to land inside it.
  const env = writerEnv(db.url, server.url, prefix, { WRITER_LOCK_DURATION_MS: '5000', WRITER_CONCURRENCY: '4', WRITER_BATCH_WAIT_MS: '50' });
  const writers = await Promise.all([0, 1, 2].map(() => run.writer(env)));
  const memory = run.memory({ ...Object.fromEntries(writers.map((w, i) => [`writer ${i + 1}`, () => w.proc.pid])), 'redis-server': () => server.pid });
  const drainStarted = Date.now();
  const producer = new Producer(producerQueue, later, { jobsPerSecond: 8, perAdd: 2, retryMs: 100 });
  run.defer(() => producer.stop());

  const written = async () => Promise.all(writers.map(async (w) => metricValue(await scrape(w.port), 'tickvault_ticks_written_total')));
  const restarts: { how: string; storedAt: number; queuedAtStop: number; downMs: number; readyMs: number | undefined }[] = [];
  let writtenAtFirstRestart: number[] = [];
  let firstRestartAt = 0;
  for (let k = 0; k < stops.length; k++) {
    const how = stops[k]!;
    const threshold = Math.round((backlogTicks * (k + 1)) / (stops.length + 1));
    await waitFor(async () => (await countTicks(db.sql, SOURCE)) >= threshold, `${threshold} ticks stored`, 180_000, 100);
    const counts = await queueCounts(queue);
    const queuedAtStop = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0);
    const storedAt = await countTicks(db.sql, SOURCE);
    if (k === 0) {
      writtenAtFirstRestart = await written();
      firstRestartAt = Date.now();
    }
    const stoppedAt = Date.now();
    if (how === 'kill -9') await server.kill9();
    else await server.shutdown();
    await sleep(1000);
    await server.start();
    const startedAt = Date.now();
    const readyAt = await waitFor(async () => (await Promise.all(writers.map((w) => readiness(w.port)))).every((s) => s === 200) && Date.now(), 'every writer ready', 60_000, 100).catch(() => undefined);
    restarts.push({ how, storedAt, queuedAtStop, downMs: startedAt - stoppedAt, readyMs: readyAt === undefined ? undefined : readyAt - startedAt });
    run.step(`${how} at ${storedAt} ticks stored (${queuedAtStop} jobs queued); Redis back after ${seconds(startedAt - stoppedAt)}`);
  }
  await producer.done;
  await waitDrained(queue, 240_000);
  const drainMs = Date.now() - drainStarted;
  const writtenAtEnd = await written();
  const duplicates = (await Promise.all(writers.map(async (w) => metricValue(await scrape(w.port), 'tickvault_ticks_duplicate_total')))).reduce((a, b) => a + b, 0);
  const endReadiness = await Promise.all(writers.map((w) => readiness(w.port)));
  const counts = await queueCounts(queue);
  const aof = await server.info('persistence');

  const result = await checkLedger(db.sql, ledger, { sources: [SOURCE], candleVolume: true, listMissing: true });
  const missing = new Set(result.missingIds);
  const acked = [...backlog, ...later.filter((j) => producer.acked.has(j.id))];
  const lostJobs = acked.filter((j) => (j.data.ticks as { tradeId: string }[]).some((t) => missing.has(t.tradeId)));

  run.figure('restarts: how, at ticks stored (jobs queued) → Redis back → every writer ready', restarts.map((r) => `${r.how} at ${r.storedAt} (${r.queuedAtStop}) → ${seconds(r.downMs)} → ${r.readyMs === undefined ? 'never' : seconds(r.readyMs)}`).join('; '));
  run.figure('ticks written per writer after the first restart', writtenAtEnd.map((n, i) => n - (writtenAtFirstRestart[i] ?? 0)).join(' / '));
  run.figure('drain of backlog + producer (3 writers)', `${seconds(drainMs)} (${fmt(total / (drainMs / 1000))} ticks/s)`);
  run.figure('acknowledged jobs lost / producer add errors', `${lostJobs.length} / ${producer.errors}`);
  run.figure('jobs redelivered (stalled events) / duplicate ticks absorbed by the natural key', `${stalled.count()} / ${duplicates}`);
  const names = writers.map((_, i) => `writer ${i + 1}`);
  const baselines = names.map((n) => memory.median(n, drainStarted, firstRestartAt));
  const peaks = names.map((n) => memory.peak(n));
  run.figure('writer RSS draining before the first restart / peak', names.map((_, i) => `${fmt(baselines[i]!)} / ${fmt(peaks[i]!)}`).join(', ') + ' MB');
  run.figure('redis-server RSS at the first restart / peak', `${fmt(memory.median('redis-server', firstRestartAt - 2000, firstRestartAt))} / ${fmt(memory.peak('redis-server'))} MB`);
  run.figure('AOF size at the end', `${fmt(Number(aof.aof_current_size ?? 0) / 2 ** 20)} MB`);
  run.check(restarts.every((r) => r.readyMs !== undefined), 'not every writer was ready after every restart');
  run.check(restarts.every((r) => r.queuedAtStop > 0), 'Redis stopped with nothing queued: the restart tested nothing');
  run.check(endReadiness.every((s) => s === 200), `writer readiness at the end: ${endReadiness.join(', ')}`);
  run.check(writtenAtEnd.every((n, i) => n > (writtenAtFirstRestart[i] ?? 0)), `a writer wrote nothing after the first restart: ${writtenAtEnd.join(', ')} vs ${writtenAtFirstRestart.join(', ')}`);
  run.check(writers.every((w) => w.proc.lines.every((l) => l.msg !== 'stopped')), 'a writer stopped during the scenario');
  run.check((counts.failed ?? 0) === 0, `${counts.failed} jobs failed`);
  // The backlog waits in Redis, not in the writers: their memory must not follow it through a restart.
  names.forEach((n, i) => run.check(peaks[i]! <= 2 * baselines[i]! + 64, `${n} RSS peaked at ${fmt(peaks[i]!)} MB, more than twice its ${fmt(baselines[i]!)} MB while draining plus 64 MB`));
  run.check(lostJobs.length === 0, `${lostJobs.length} acknowledged jobs lost with appendfsync always`);
  run.check(producer.finished, 'the producer did not get every job acknowledged');
  reportLedger(run, result);
}

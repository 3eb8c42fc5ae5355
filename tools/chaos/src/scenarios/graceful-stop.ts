// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs, type ServiceProcess } from '@tickvault/testing';
import {
  ENTRIES, HOUR_MS, Producer, ReadinessWatch, checkLedger, countTicks, msgIncludes, queueCounts, reportLedger, sleep, waitDrained, waitFor, withIds,
  writerEnv, type Run,
} from '../lib.js';
import { earliest, simLedger, simStarts, simSymbols } from '../sim-ledger.js';

const SOURCE = 'chaos-term';
const SEED = 7;

/**
 * 2. SIGTERM under load. The writer: readiness turns false at once, the jobs it holds are committed
 * and completed before it exits 0 (none is left locked for another writer to redo). The ingest
 * service: readiness turns false at once, its micro-batch and outbox reach Redis before it exits 0.
 */
export async function gracefulStop(run: Run): Promise<void> {
  const db = await run.database('term');
  const prefix = run.prefix();
  const queue = run.tickQueue(run.redis(run.settings.redisUrl), prefix);
  const env = writerEnv(db.url, run.settings.redisUrl, prefix, { LOG_LEVEL: 'debug' });

  // --- the writer, with a backlog --------------------------------------------------------------
  const count = run.size(60_000, 300_000);
  const ledger = syntheticTicks({ count, symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'], startMs: Date.now() - 8 * HOUR_MS, stepMs: Math.floor((7 * HOUR_MS) / count), source: SOURCE });
  const jobs = withIds(toJobs(ledger, 250, 'chaos'), 'term');
  const producer = new Producer(queue, jobs, { jobsPerSecond: 2000, perAdd: 50 });
  run.defer(() => producer.stop());
  await producer.done;
  const first = await run.writer(env);
  await waitFor(async () => (await countTicks(db.sql, SOURCE)) > 0 && ((await queueCounts(queue)).active ?? 0) > 0, 'writer busy', 60_000, 20);
  await terminate(run, 'writer', first.proc, first.port);
  const after = await queueCounts(queue);
  const storedAtExit = await countTicks(db.sql, SOURCE);
  run.figure('writer: jobs left active after its exit', after.active ?? 0);
  run.check((after.active ?? 0) === 0, `${after.active} jobs still locked by the stopped writer (the drain did not finish them)`);
  // Every job is either completed (committed) or still waiting: stored + waiting × 250 = produced.
  const waitingTicks = ((after.waiting ?? 0) + (after.delayed ?? 0) + (after.prioritized ?? 0)) * 250;
  run.check(storedAtExit + waitingTicks === ledger.length, `at exit ${storedAtExit} ticks stored + ${waitingTicks} still queued ≠ ${ledger.length} produced: a commit without its completion or the reverse`);
  run.check(storedAtExit < ledger.length, 'the writer had nothing left to do when stopped');
  await run.writer(env);
  await waitDrained(queue, 120_000);
  run.check(((await queueCounts(queue)).failed ?? 0) === 0, 'jobs in the failed set');
  reportLedger(run, await checkLedger(db.sql, ledger, { sources: [SOURCE], candleVolume: true }), 'writer:');

  // --- an ingest service (sim source), with a writer running -------------------------------------
  const symbols = simSymbols(run.size(20, 50));
  const ingest = run.service(ENTRIES.ingestCrypto, {
    REDIS_URL: run.settings.redisUrl, QUEUE_PREFIX: prefix, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: symbols.join(','), SIM_SEED: String(SEED),
    INGEST_FLUSH_MS: '200', LOG_LEVEL: 'debug',
  });
  const port = (await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 60_000)).healthPort as number;
  await waitFor(async () => simStarts(db.sql, symbols), 'every sim symbol stored', 60_000, 500);
  await sleep(run.size(5000, 20_000));
  const stoppedAt = await terminate(run, 'ingest', ingest, port);
  run.check(!ingest.lines.some(msgIncludes('they are lost')), 'the ingest service stopped with ticks Redis never took');
  await waitDrained(queue, 60_000);
  const starts = (await simStarts(db.sql, symbols))!;
  // Trades due in the last instant before the stop may never have been emitted (the stream stops
  // between two 100 ms steps): they were never produced, so the ledger ends a second before the signal.
  const to = new Date(stoppedAt - 1000);
  const simTicks = await simLedger(SEED, symbols, starts, to);
  reportLedger(run, await checkLedger(db.sql, simTicks, { sources: ['sim'], within: { from: earliest(starts), to } }), 'ingest:');
}

/** SIGTERM while polling /readyz every few ms: not-ready must come before the server goes away, and the exit must be 0. */
async function terminate(run: Run, label: string, proc: ServiceProcess, port: number): Promise<number> {
  // Twelve staggered pollers: an idle ingest service closes its server a few ms after turning
  // not-ready, less than one request takes.
  const watch = new ReadinessWatch(port, 5, 1000, 12);
  await waitFor(() => watch.samples.some((s) => s.status === 200), `${label} ready before the signal`, 10_000, 20);
  const signalled = Date.now();
  proc.kill('SIGTERM');
  const exit = await proc.exited;
  const exitedAt = Date.now();
  await watch.stop();
  // Answers after the signal: the first that is not 200 must be 503 (not a closed server), and no
  // request sent after a 503 arrived may be answered 200 again.
  const afterSignal = watch.samples.filter((s) => s.at >= signalled);
  const notReadyAt = afterSignal.find((s) => s.status === 503)?.at;
  const firstNotReady = afterSignal.find((s) => s.status !== 200);
  const readyAfter = notReadyAt === undefined ? [] : afterSignal.filter((s) => s.sent > notReadyAt && s.status === 200);
  const closedAt = afterSignal.find((s) => s.status === 'down')?.at;
  run.figure(
    `${label}: SIGTERM → /readyz 503 → server closed → exit`,
    `${notReadyAt === undefined ? 'no 503 seen' : `${notReadyAt - signalled} ms`} → ${closedAt === undefined ? '?' : `${closedAt - signalled} ms`} → ${exitedAt - signalled} ms (exit code ${exit.code}, ${afterSignal.length} probes)`,
  );
  run.check(firstNotReady?.status === 503, `${label}: the first non-ready answer after SIGTERM was ${String(firstNotReady?.status)} (expected 503 before the server closes)`);
  run.check(readyAfter.length === 0, `${label}: /readyz answered 200 to ${readyAfter.length} requests sent after it had answered 503`);
  run.check(exit.code === 0, `${label}: exit code ${exit.code} (signal ${exit.signal})`);
  const stopped = proc.lines.find((l) => l.msg === 'stopped');
  run.check(stopped?.exitCode === 0, `${label}: no "stopped" log with exit code 0`);
  const failedSteps = proc.lines.filter((l) => l.msg === 'shutdown step failed');
  run.check(failedSteps.length === 0, `${label}: shutdown steps failed: ${failedSteps.map((l) => String(l.step)).join(', ')}`);
  const steps = proc.lines.filter((l) => l.msg === 'shutdown step done').map((l) => String(l.step));
  run.check(steps[0] === 'mark not ready', `${label}: first shutdown step was ${steps[0]}`);
  return signalled;
}

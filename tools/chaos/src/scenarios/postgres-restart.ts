import { createDb, migrate, type Sql } from '@tickvault/db';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs } from '@tickvault/testing';
import {
  HOUR_MS, Producer, ReadinessWatch, checkLedger, countTicks, fmt, queueCounts, reportLedger, seconds, sleep, waitDrained, waitFor, withIds, writerEnv,
  type Run,
} from '../lib.js';

const SOURCE = 'chaos-pgr';

interface Backend {
  pid: number;
  state: string | null;
  busy: boolean;
}

/** The writer's connections; `busy`: inside a transaction that is not the readiness probe (a flush). */
function writerBackends(sql: Sql): Promise<Backend[]> {
  return sql<Backend[]>`
    select pid, state, (xact_start is not null and query not ilike 'select 1%') as busy
    from pg_stat_activity
    where application_name = 'tickvault-writer' and backend_type = 'client backend'
    order by busy desc, pid`;
}

/**
 * 11. Postgres restarted while a flush is in flight, with the writer's pool half dead. The scenario
 * runs a PostgreSQL cluster of its own (initdb, own port) under steady load. Each round waits for a
 * flush in flight, terminates the writer's other connections (pg_terminate_backend: half the pool
 * dead), and restarts the server at once: even rounds a fast shutdown (the flush is rolled back),
 * odd rounds with the flushing backend frozen (SIGSTOP: a connection that neither answers nor closes)
 * and an immediate shutdown (a crash: the server recovers from WAL; the frozen backend is killed).
 * Jobs must wait and come back, nothing acknowledged may be lost or doubled, no transaction may be
 * left open, and the writer's memory must not grow with the backlog.
 */
export async function postgresRestart(run: Run): Promise<void> {
  const rounds = run.size(2, 6);
  const cluster = await run.postgresCluster();
  run.step(`own PostgreSQL cluster on port ${cluster.port} (${cluster.bin})`);
  const url = cluster.url('tickvault_chaos');
  await migrate(url);
  const sql = createDb(url, { max: 2, applicationName: 'tickvault-chaos', statementTimeoutMs: 0 });
  run.defer(() => sql.end({ timeout: 1 }));
  const frozen = new Set<number>();
  run.defer(() => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone already
      }
    }
  });

  const prefix = run.prefix();
  const queue = run.tickQueue(run.redis(run.settings.redisUrl), prefix);
  const stalled = run.stalledCounter(run.settings.redisUrl, prefix);
  // Batches of 2,000 ticks: a backlog is several batches, written by two flushes at once on two connections.
  const env = writerEnv(url, run.settings.redisUrl, prefix, { WRITER_LOCK_DURATION_MS: '10000', WRITER_BATCH_MAX_TICKS: '2000' });
  // A writer that dies is replaced, as its supervisor would, so the rounds and the checks go on; each death is a failure.
  const startWriter = async () => {
    const started = await run.writer(env);
    const state = { ...started, dead: false };
    void started.proc.exited.then(() => (state.dead = true));
    return state;
  };
  let writer = await startWriter();
  let watch = new ReadinessWatch(writer.port, 200);
  run.defer(() => watch.stop());
  const deaths: string[] = [];
  const replaceIfDead = async (): Promise<boolean> => {
    if (!writer.dead) return false;
    const fatal = writer.proc.lines.find((l) => l.msg === 'uncaught exception' || l.msg === 'unhandled rejection');
    const err = fatal?.err as { message?: string; stack?: string } | string | undefined;
    // The first frames: enough to find the driver's code path in a report upstream.
    const where = typeof err === 'object' ? (err.stack ?? '').split('\n').filter((l) => l.includes(' at ')).slice(0, 6).map((l) => l.trim()).join(' < ') : '';
    deaths.push(`${String(fatal?.msg ?? 'exit')}: ${typeof err === 'object' ? err.message : String(err ?? '')}${where ? ` (${where})` : ''}`);
    run.step(`the writer died (${deaths.at(-1)}); starting another`);
    await watch.stop();
    writer = await startWriter();
    watch = new ReadinessWatch(writer.port, 200);
    return true;
  };
  const memory = run.memory({ writer: () => writer.proc.pid });

  // Steady load, about 8,000 ticks/s in jobs of 250, for about as long as the rounds take.
  const ticksPerSecond = 8000;
  const perJob = 250;
  const planMs = 8000 + rounds * 10_000;
  const count = Math.round((ticksPerSecond * planMs) / 1000);
  const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT'];
  const ledger = syntheticTicks({ count, symbols, startMs: Date.now() - 8 * HOUR_MS, stepMs: Math.floor((7 * HOUR_MS) / count), source: SOURCE });
  const jobs = withIds(toJobs(ledger, perJob, 'chaos'), 'pgr');
  const producer = new Producer(queue, jobs, { jobsPerSecond: ticksPerSecond / perJob, perAdd: 8 });
  run.defer(() => producer.stop());
  const loadStarted = Date.now();

  const outcomes: { mode: string; inFlightAtRestart: boolean; terminated: number; poolSize: number; restartMs: number; readyMs: number | undefined; died: boolean }[] = [];
  let firstFaultAt = 0;
  for (let round = 0; round < rounds; round++) {
    const crash = round % 2 === 1;
    // The writer is committing (again): the pool is warm and flushes are under way.
    const before = await countTicks(sql, SOURCE).catch(() => 0);
    await waitFor(async () => (await countTicks(sql, SOURCE)) > before, 'the writer committing', 90_000, 100);
    // A flush in flight on a pool of at least two connections (the pool opens them as it needs them).
    let lastBacklog = Date.now();
    const backends = await waitFor(async () => {
      const rows = await writerBackends(sql);
      if (rows.length >= 2 && rows.some((r) => r.busy)) return rows;
      // One flush at a time can keep up with the load on a single connection: a second's pause of the
      // queue builds a backlog that the writer drains with two flushes at once, on two connections.
      if (Date.now() - lastBacklog > 3000) {
        lastBacklog = Date.now();
        await queue.pause();
        await sleep(1000);
        await queue.resume();
      }
      return undefined;
    }, 'a flush in flight with two or more connections open', 60_000, 5);
    if (firstFaultAt === 0) firstFaultAt = Date.now();
    const flushing = backends.find((b) => b.busy)!;
    // Half the pool dead: the other connections, idle ones first, never the flushing one.
    const others = backends.filter((b) => b.pid !== flushing.pid).sort((a, b) => Number(a.busy) - Number(b.busy));
    const victims = others.slice(0, Math.max(1, Math.ceil(backends.length / 2)));
    for (const victim of victims) await sql`select pg_terminate_backend(${victim.pid})`;
    if (crash) {
      process.kill(flushing.pid, 'SIGSTOP');
      frozen.add(flushing.pid);
    }
    const stillFlushing = crash || (await writerBackends(sql).catch(() => [] as Backend[])).some((b) => b.pid === flushing.pid && b.busy);
    const restartAt = Date.now();
    run.step(`round ${round + 1}: terminated ${victims.length} of ${backends.length} connections${crash ? ', froze the flushing one' : ''}; stopping the server`);
    await cluster.stop(crash ? 'immediate' : 'fast');
    frozen.delete(flushing.pid);
    await cluster.start();
    const restartedAt = Date.now();
    const deathsBefore = deaths.length;
    const readyAt = await waitFor(async () => (await replaceIfDead()) ? -1 : watch.firstAt((s) => s === 200, restartedAt), 'writer ready after the restart', 60_000, 100)
      .then((at) => (at === -1 ? undefined : at), () => undefined);
    if (readyAt === undefined && deaths.length === 0) run.note(`writer not ready 60 s after the restart; its last log lines: ${writer.proc.output.slice(-8).join(' | ')}`);
    outcomes.push({
      mode: crash ? 'immediate, flushing backend frozen' : 'fast',
      inFlightAtRestart: stillFlushing,
      terminated: victims.length,
      poolSize: backends.length,
      restartMs: restartedAt - restartAt,
      readyMs: readyAt === undefined ? undefined : readyAt - restartedAt,
      died: deaths.length > deathsBefore,
    });
    run.step(`round ${round + 1}: ${outcomes.at(-1)!.mode}; terminated ${victims.length} of ${backends.length}; flush in flight at the restart: ${stillFlushing}; restart ${seconds(restartedAt - restartAt)}`);
  }
  await producer.done;
  await waitDrained(queue, 180_000);
  await replaceIfDead();
  await sleep(500);
  await watch.stop();

  // Nothing the writer began may still be running or holding locks once its jobs are done.
  const openTransactions = await waitFor(async () => {
    const rows = await writerBackends(sql);
    return rows.every((r) => !r.busy) ? [] : undefined;
  }, 'no writer transaction open', 15_000, 200).catch(async () => (await writerBackends(sql)).filter((r) => r.busy));
  const counts = await queueCounts(queue);
  const [recovered] = await sql<{ n: number }[]>`select count(*)::int as n from system_events where kind = 'postgres_recovered'`;
  const baseline = memory.median('writer', loadStarted, firstFaultAt);
  const peak = memory.peak('writer');

  run.figure('rounds: restart mode (pool connections terminated / pool size; flush in flight at the restart)', outcomes.map((o) => `${o.mode} (${o.terminated}/${o.poolSize}; ${o.inFlightAtRestart ? 'yes' : 'no'})`).join(', '));
  run.figure('restart took (stop + start)', outcomes.map((o) => seconds(o.restartMs)).join(', '));
  run.figure('server back → writer /readyz 200', outcomes.map((o) => (o.died ? 'died' : o.readyMs === undefined ? 'never' : seconds(o.readyMs))).join(', '));
  run.figure('postgres_recovered events / jobs redelivered (stalled events)', `${recovered!.n} / ${stalled.count()}`);
  run.figure('writer RSS under load before the first fault / peak', `${fmt(baseline)} / ${fmt(peak)} MB`);
  run.figure('writer transactions open after the drain', openTransactions.length);
  run.figure('writer deaths (replaced)', deaths.length === 0 ? '0' : `${deaths.length}: ${deaths.join('; ')}`);
  run.check(deaths.length === 0, `the writer died ${deaths.length} times on a restart: ${deaths.join('; ')}`);
  run.check(outcomes.every((o) => o.died || o.readyMs !== undefined), 'the writer did not become ready after every restart');
  run.check(outcomes.some((o) => o.inFlightAtRestart), 'no restart happened while a flush was in flight: the scenario tested nothing');
  run.check(openTransactions.length === 0, `${openTransactions.length} writer transactions still open after the drain (pids ${openTransactions.map((r) => r.pid).join(', ')})`);
  run.check((counts.failed ?? 0) === 0, `${counts.failed} jobs failed (a restart must not spend attempts)`);
  run.check(recovered!.n >= 1, 'no postgres_recovered event recorded');
  // The backlog waits in Redis, not in the writer: its memory must not follow it.
  run.check(peak <= 2 * baseline + 64, `writer RSS peaked at ${fmt(peak)} MB, more than twice its ${fmt(baseline)} MB under load plus 64 MB`);
  reportLedger(run, await checkLedger(sql, ledger, { sources: [SOURCE], candleVolume: true }));
}

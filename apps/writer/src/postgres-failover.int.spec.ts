import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { JOB_NAMES, QUEUE_NAMES, type TickBatchJob } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import {
  createTestRedis, eventually, PrimaryAndReplica, repoPath, runEntry, ServiceProcess, syntheticTicks, toJobs, type TestRedis,
} from '@tickvault/testing';

const WRITER = repoPath('apps/writer/src/main.ts');
const CLI = repoPath('tools/cli/src/main.ts');
const DATABASE = 'tv_failover';
const HOUR = 3_600_000;
const TICKS_PER_JOB = 20;
// A job every this often, before, during and after the failover.
const PRODUCE_EVERY_MS = 25;

/**
 * A real primary and a streaming replica, the writer on a DATABASE_URL that lists both with
 * target_session_attrs=read-write. The primary dies (immediate stop: a crash) while jobs keep
 * arriving; the replica is promoted; the same writer process finds it and stores what is queued.
 * - Synchronous replication (a commit the writer saw is on the replica): every tick stored once.
 * - Asynchronous: commits the primary acknowledged but had not yet sent can be lost with their jobs
 *   already completed. The test counts them, and checks that only such jobs lose ticks (whole
 *   transactions: candles still equal their stored ticks) and that nothing queued is lost or doubled.
 */
describe.each([{ synchronous: true }, { synchronous: false }])('writer across a Postgres failover (primary killed, replica promoted), synchronous $synchronous', ({ synchronous }) => {
  let cluster: PrimaryAndReplica | undefined;
  let redis: TestRedis | undefined;
  let connection: Redis | undefined;
  let queue: Queue<TickBatchJob> | undefined;
  let writer: ServiceProcess | undefined;
  let onReplica: postgres.Sql | undefined;

  beforeAll(async () => {
    // Assigned before it starts, so afterAll removes it even when starting fails or times out.
    cluster = new PrimaryAndReplica({ synchronous, prepare: async (url) => void (await migrate(url(DATABASE))) });
    await cluster.start();
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    onReplica = postgres(cluster.replica.url(DATABASE), { max: 2, onnotice: () => {} });
    writer = new ServiceProcess(WRITER, {
      DATABASE_URL: cluster.failoverUrl(DATABASE),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      LOG_LEVEL: 'info',
    });
  }, 600_000);

  afterAll(async () => {
    // Every part by its own handle, each even when another failed.
    await writer?.stop().catch(() => {});
    await onReplica?.end({ timeout: 1 }).catch(() => {});
    await queue?.close().catch(() => {});
    connection?.disconnect();
    await redis?.cleanup().catch(() => {});
    await cluster?.destroy();
  }, 120_000);

  const title = synchronous
    ? 'stores every tick queued before, during and after the promotion once; not ready in between; no restart'
    : 'loses only commits acknowledged before the death, whole; stores everything still queued once; not ready in between; no restart';
  it(title, { timeout: 600_000 }, async () => {
    const c = cluster!;
    const w = writer!;
    const started = await w.waitForLog((l) => l.msg === 'writer started', 240_000);
    const readiness = async () => (await fetch(`http://127.0.0.1:${started.healthPort as number}/readyz`, { signal: AbortSignal.timeout(10_000) })).status;
    const count = async (sql: postgres.Sql) => (await sql<{ n: number }[]>`select count(*)::int as n from ticks where source = 'failover'`)[0]!.n;

    const ledger = syntheticTicks({ count: 200_000, symbols: ['BTC/USDT', 'ETH/USDT'], startMs: Date.now() - 5 * HOUR, stepMs: 50, source: 'failover' });
    const jobs = toJobs(ledger, TICKS_PER_JOB);
    let queued = 0;
    let producing = true;
    const producer = (async () => {
      while (producing && queued < jobs.length) {
        await queue!.add(JOB_NAMES.tickBatch, jobs[queued]!);
        queued++;
        await new Promise((r) => setTimeout(r, PRODUCE_EVERY_MS));
      }
    })();

    try {
      // Before: the writer stores on the primary (read here from the replica, which follows it).
      await eventually(async () => (await count(onReplica!)) >= 20 * TICKS_PER_JOB, 'ticks stored before the failover', 120_000, 100);
      expect(await readiness()).toBe(200);

      let completedWhileCutOff = 0;
      if (!synchronous) {
        // The replica falls behind as over a slow or broken link: the primary's WAL sender is frozen,
        // so what commits from here on is acknowledged to the writer and never sent.
        const sender = await walSenderPid(c.primary.url('postgres'));
        process.kill(sender, 'SIGSTOP');
        const completedAtCut = (await queue!.getJobCounts('completed')).completed ?? 0;
        await eventually(async () => ((await queue!.getJobCounts('completed')).completed ?? 0) >= completedAtCut + 10, 'jobs completed while the replica is cut off', 120_000, 50);
        completedWhileCutOff = ((await queue!.getJobCounts('completed')).completed ?? 0) - completedAtCut;
      }
      const lagAtDeath = await replicationLagBytes(c.primary.url('postgres'));
      const killedAt = Date.now();
      if (synchronous) await c.primary.stop('immediate');
      // The whole primary at once: its frozen WAL sender must not get to send anything on the way down.
      else c.primary.killAll();
      // During: jobs keep arriving; the writer notices and stops taking them.
      await eventually(async () => (await readiness()) === 503, 'the writer not ready while there is no primary', 120_000, 100);
      const notReadyAt = Date.now();
      const queuedAtNotReady = queued;
      const storedBeforePromotion = await count(onReplica!);
      // Some jobs arrive while no primary exists at all.
      await eventually(() => queued >= queuedAtNotReady + 20, 'jobs queued during the outage', 60_000, 50);

      const promotedAt = Date.now();
      await c.replica.promote();
      const promotionMs = Date.now() - promotedAt;
      // After: the same process finds the new primary by itself.
      await eventually(async () => (await count(onReplica!)) > storedBeforePromotion, 'the writer storing on the promoted replica', 120_000, 50);
      const storingAgainAt = Date.now();
      await eventually(async () => (await readiness()) === 200, 'the writer ready again', 120_000, 100);
      const queuedAtRecovery = queued;
      await eventually(() => queued >= queuedAtRecovery + 20, 'jobs queued after the recovery', 60_000, 50);
      producing = false;
      await producer;

      const expected = queued * TICKS_PER_JOB;
      // Done when nothing is left to take: a lost commit's ticks never arrive, so the count alone cannot tell.
      await eventually(async () => {
        const left = await queue!.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(left).every((n) => n === 0);
      }, 'every queued job taken and completed', 240_000, 200);
      if (synchronous) await eventually(async () => (await count(onReplica!)) === expected, `all ${expected} queued ticks stored`, 60_000, 200);
      const counts = await queue!.getJobCounts('waiting', 'active', 'delayed', 'failed');
      const [dup] = await onReplica!<{ rows: number; distinct: number }[]>`
        select count(*)::int as rows, count(distinct (symbol, trade_id))::int as distinct from ticks where source = 'failover'`;
      const [candles] = await onReplica!<{ trades: number }[]>`
        select coalesce(sum(trade_count), 0)::int as trades from candles where source = 'failover' and timeframe = '1m'`;
      const verify = await verifyCandles(onReplica!, { from: new Date(Date.now() - 6 * HOUR), to: new Date(Date.now() + HOUR), source: 'failover' });
      const stored = new Set((await onReplica!<{ trade_id: string }[]>`select trade_id from ticks where source = 'failover'`).map((r) => r.trade_id));
      const lostTicks = ledger.slice(0, expected).filter((t) => !stored.has(t.tradeId ?? ''));
      // The jobs that lost ticks (job i holds ledger ticks i*TICKS_PER_JOB…), and when the writer completed each (after its commit returned).
      const jobOf = new Map(ledger.slice(0, expected).map((t, i) => [t.tradeId ?? '', Math.floor(i / TICKS_PER_JOB)]));
      const lostJobs = new Map<number, number>();
      for (const t of lostTicks) {
        const index = jobOf.get(t.tradeId ?? '')!;
        lostJobs.set(index, (lostJobs.get(index) ?? 0) + 1);
      }
      const finished = new Map<number, number | undefined>();
      for (const job of await queue!.getJobs(['completed'], 0, -1)) finished.set(jobOf.get((job.data.ticks[0] as { tradeId?: string } | undefined)?.tradeId ?? '') ?? -1, job.finishedOn);

      const figures = {
        synchronous, queuedJobs: queued, ticks: expected, lost: lostTicks.length, lostJobs: lostJobs.size, completedWhileCutOff, replicaBehindBytesAtDeath: lagAtDeath,
        doubled: dup!.rows - dup!.distinct, candleTradesOver: candles!.trades - stored.size,
        deathToNotReadyMs: notReadyAt - killedAt, deathToStoringMs: storingAgainAt - killedAt, promotionToStoringMs: storingAgainAt - promotedAt, pgCtlPromoteMs: promotionMs,
      };
      process.stdout.write(`postgres failover figures: ${JSON.stringify(figures)}\n`);
      if (!synchronous) {
        // Jobs completed while the replica was cut off had their commits only on the dead primary.
        expect(figures.lost).toBeGreaterThan(0);
        for (const [index, ticks] of lostJobs) {
          // A lost job was acknowledged by the old primary: completed before the promotion, and lost whole (one transaction).
          expect(ticks, `job ${index} lost part of its ticks`).toBe(TICKS_PER_JOB);
          expect(finished.get(index), `job ${index} lost ticks but was not completed before the promotion`).toBeLessThan(promotedAt);
        }
      }
      if (synchronous) expect(figures.lost).toBe(0);
      expect(figures.doubled).toBe(0);
      expect(figures.candleTradesOver).toBe(0);
      expect(verify.mismatches).toEqual([]);
      expect(counts.failed).toBe(0);
      // One process throughout: it paused, found the new primary and resumed.
      expect(await Promise.race([w.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 10))])).toBe('running');
      expect(w.lines.some((l) => l.msg === 'Postgres is back: resuming consumption')).toBe(true);

      // The CLI, a new process on the same URL, finds the promoted server too (the first host is dead).
      const env = { DATABASE_URL: c.failoverUrl(DATABASE), REDIS_URL: redis!.url, QUEUE_PREFIX: redis!.prefix };
      const migrated = await runEntry(CLI, ['migrate'], env);
      expect(migrated.code, migrated.stderr).toBe(0);
      const doctor = await runEntry(CLI, ['doctor', '--json'], env);
      const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string }[] }).checks;
      expect(checks.filter((check) => check.name.startsWith('Postgres') || check.name === 'Schema current').map((check) => check.status)).toEqual(['ok', 'ok', 'ok']);
    } finally {
      producing = false;
      await producer;
    }
  });
});

/** How far the replica is behind the primary's sent WAL, in bytes, just before the primary dies. */
async function replicationLagBytes(primaryUrl: string): Promise<number | null> {
  const admin = postgres(primaryUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin<{ behind: string | null }[]>`select pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text as behind from pg_stat_replication`;
    return row?.behind == null ? null : Number(row.behind);
  } finally {
    await admin.end({ timeout: 1 });
  }
}

async function walSenderPid(primaryUrl: string): Promise<number> {
  const admin = postgres(primaryUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin<{ pid: number }[]>`select pid from pg_stat_replication`;
    if (!row) throw new Error('the primary has no WAL sender');
    return row.pid;
  } finally {
    await admin.end({ timeout: 1 });
  }
}

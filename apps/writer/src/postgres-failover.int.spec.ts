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
 * A real primary and a streaming replica (synchronous: a commit the writer saw is on the replica), the
 * writer on a DATABASE_URL that lists both with target_session_attrs=read-write. The primary dies
 * (immediate stop: a crash) while jobs keep arriving; the replica is promoted; the same writer process
 * finds it and stores every tick once.
 */
describe('writer across a Postgres failover (primary killed, replica promoted)', () => {
  let cluster: PrimaryAndReplica | undefined;
  let redis: TestRedis | undefined;
  let connection: Redis | undefined;
  let queue: Queue<TickBatchJob> | undefined;
  let writer: ServiceProcess | undefined;
  let onReplica: postgres.Sql | undefined;

  beforeAll(async () => {
    // Assigned before it starts, so afterAll removes it even when starting fails or times out.
    cluster = new PrimaryAndReplica({ synchronous: true, prepare: async (url) => void (await migrate(url(DATABASE))) });
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

  it('stores every tick queued before, during and after the promotion once; not ready in between; no restart', { timeout: 600_000 }, async () => {
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
      // Before: the writer stores on the primary (read here from the replica: synchronous, so it has them).
      await eventually(async () => (await count(onReplica!)) >= 20 * TICKS_PER_JOB, 'ticks stored before the failover', 120_000, 100);
      expect(await readiness()).toBe(200);

      const killedAt = Date.now();
      await c.primary.stop('immediate');
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
      await eventually(async () => (await count(onReplica!)) === expected, `all ${expected} queued ticks stored`, 240_000, 200);
      const counts = await queue!.getJobCounts('waiting', 'active', 'delayed', 'failed');
      const [dup] = await onReplica!<{ rows: number; distinct: number }[]>`
        select count(*)::int as rows, count(distinct (symbol, trade_id))::int as distinct from ticks where source = 'failover'`;
      const [candles] = await onReplica!<{ trades: number }[]>`
        select coalesce(sum(trade_count), 0)::int as trades from candles where source = 'failover' and timeframe = '1m'`;
      const verify = await verifyCandles(onReplica!, { from: new Date(Date.now() - 6 * HOUR), to: new Date(Date.now() + HOUR), source: 'failover' });
      const stored = new Set((await onReplica!<{ trade_id: string }[]>`select trade_id from ticks where source = 'failover'`).map((r) => r.trade_id));
      const lost = ledger.slice(0, expected).filter((t) => !stored.has(t.tradeId ?? '')).length;

      const figures = {
        queuedJobs: queued, ticks: expected, lost, doubled: dup!.rows - dup!.distinct, candleTradesOver: candles!.trades - expected,
        deathToNotReadyMs: notReadyAt - killedAt, deathToStoringMs: storingAgainAt - killedAt, promotionToStoringMs: storingAgainAt - promotedAt, pgCtlPromoteMs: promotionMs,
      };
      process.stdout.write(`postgres failover figures: ${JSON.stringify(figures)}\n`);
      expect(figures.lost).toBe(0);
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

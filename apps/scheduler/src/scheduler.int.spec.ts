import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { backfillQueueName, JOB_NAMES, QUEUE_NAMES } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import { startFakeBinance, type FakeBinance } from '@tickvault/fake-feeds';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, type TestDatabase, type TestRedis,
} from '@tickvault/testing';

/**
 * The scheduler with real processes: fake Binance → ingest-crypto (live + backfill worker) → writer,
 * and the scheduler finding gaps and health problems. The fake has 60 minutes of history; 1m candles
 * are kept for 120, so the oldest hour of the horizon is a range the source has nothing for.
 */
const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];
const MINUTE = 60_000;

describe('scheduler: gap-fill, health and schedules (real processes)', () => {
  let fake: FakeBinance;
  let db: TestDatabase;
  let redis: TestRedis;
  let writer: ServiceProcess;
  let ingest: ServiceProcess;
  let scheduler: ServiceProcess | undefined;
  let maintenance: Queue;
  const env = () => ({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0' });
  const schedulerEnv = () => ({
    ...env(),
    CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: SYMBOLS.join(','), STOCK_SOURCES: '', MACRO_SOURCES: '',
    CANDLE_RETENTION: '2000,1m=120', HEALTH_MAX_SILENCE_SECONDS: '10',
    // Far-off schedules: the test runs the jobs by hand.
    GAP_FILL_CRON: '0 3 1 1 *', HEALTH_CRON: '0 4 1 1 *',
  });
  const startScheduler = async () => {
    const process = new ServiceProcess(repoPath('apps/scheduler/src/main.ts'), schedulerEnv());
    await process.waitForLog((l) => l.msg === 'scheduler started');
    return process;
  };
  const runNow = async (name: typeof JOB_NAMES.gapFill | typeof JOB_NAMES.health) => {
    const job = await maintenance.add(name, { requestedBy: 'test' });
    await eventually(async () => {
      if (await job.isFailed()) throw new Error(`${name} failed: ${(await maintenance.getJob(job.id!))?.failedReason}\n${scheduler?.output.slice(-20).join('\n')}`);
      return (await job.isCompleted()) || undefined;
    }, `${name} run completed`, 60_000, 200);
    return (await maintenance.getJob(job.id!))!.returnvalue as Record<string, number> & { checkedUntil: string };
  };
  const openGaps = async () => (await db.sql`select count(*)::int as n from gaps where status = 'open'`)[0]!.n as number;
  const candles1m = async (symbol: string) =>
    db.sql<{ t: string; o: string; h: string; l: string; c: string; v: string; n: number }[]>`
      select to_char(open_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as t, open::text as o, high::text as h, low::text as l,
        close::text as c, volume::text as v, trade_count as n
      from candles where source = 'binance' and symbol = ${symbol} and timeframe = '1m' and open_time < now() - interval '6 minutes'
      order by open_time`;

  beforeAll(async () => {
    fake = await startFakeBinance({ seed: 11, symbols: ['BTCUSDT', 'ETHUSDT'], tradesPerSecond: 3, historyMs: 60 * MINUTE });
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    // Flushes held 2 s: a backfill's outcome (events queue) arrives well before its bars commit (tick queues),
    // so a gap marked filled before its candles are stored would fail the exact-candle checks below.
    writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), { ...env(), CANDLE_RETENTION: '2000,1m=120', WRITER_BATCH_WAIT_MS: '2000' });
    await writer.waitForLog((l) => l.msg === 'writer started');
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...env(), CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: SYMBOLS.join(','),
      BINANCE_WS_URL: fake.wsUrl, BINANCE_REST_URL: fake.restUrl, BINANCE_STALE_SECONDS: '5', INGEST_FLUSH_MS: '100',
    });
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started');
    scheduler = await startScheduler();
    maintenance = new Queue(QUEUE_NAMES.maintenance, { connection: redis.redis, prefix: redis.prefix });
  }, 90_000);

  afterAll(async () => {
    await maintenance?.close();
    await scheduler?.stop();
    await ingest?.stop();
    await writer?.stop();
    await redis?.cleanup();
    await db?.drop();
    await fake?.close();
  });

  it('one gap-fill run fills the horizon from the provider\'s bars; deleted ranges come back exactly; nothing is asked twice', async () => {
    const first = await runNow(JOB_NAMES.gapFill);
    expect(first.enqueued).toBeGreaterThanOrEqual(2);
    await eventually(async () => (await openGaps()) === 0, 'first gaps closed', 60_000, 250);
    // Every closed minute of the fake's history is now a candle equal to its kline.
    for (const symbol of SYMBOLS) {
      const stored = await candles1m(symbol);
      const last = Date.parse(`${stored.at(-1)!.t.replace('Z', ':00Z')}`);
      const response = await fetch(`${fake.restUrl}/api/v3/klines?symbol=${symbol.replace('/', '')}&interval=1m&startTime=${Date.now() - 70 * MINUTE}&endTime=${last}&limit=1000`);
      const klines = (await response.json()) as [number, string, string, string, string, string, number, string, number][];
      expect(stored.length).toBeGreaterThanOrEqual(50);
      expect(stored.map((r) => r.t)).toEqual(klines.map((k) => new Date(k[0]).toISOString().slice(0, 16) + 'Z'));
      expect(stored).toEqual(klines.map((k) => ({
        t: new Date(k[0]).toISOString().slice(0, 16) + 'Z', o: k[1], h: k[2], l: k[3], c: k[4], v: k[5], n: k[8],
      })));
    }
    const gapsAfterFirst = await db.sql`select id, status from gaps order by id`;

    // Holes: three random runs of minutes per symbol.
    const before = Object.fromEntries(await Promise.all(SYMBOLS.map(async (s) => [s, await candles1m(s)] as const)));
    let deleted = 0;
    for (const symbol of SYMBOLS) {
      const rows = before[symbol]!;
      for (let k = 0; k < 3; k++) {
        const start = 5 + Math.floor(Math.random() * (rows.length - 15));
        const length = 1 + Math.floor(Math.random() * 5);
        const removed = await db.sql`
          delete from candles where source = 'binance' and symbol = ${symbol} and timeframe = '1m'
            and open_time >= ${rows[start]!.t.replace('Z', ':00Z')} and open_time < ${new Date(Date.parse(rows[start]!.t.replace('Z', ':00Z')) + length * MINUTE).toISOString()}
          returning 1`;
        deleted += removed.length;
      }
    }
    expect(deleted).toBeGreaterThan(0);
    const second = await runNow(JOB_NAMES.gapFill);
    // A minute boundary passed between runs makes newly settled minutes (never fetched: before ingest
    // started) a gap of their own, after the first run's window: legitimately found, not asked twice.
    const settledSince = async (until: string) =>
      (await db.sql<{ n: number; rows: number }[]>`
        select coalesce(sum(missing), 0)::int as n, count(*)::int as rows from gaps where range_start >= ${until}`)[0]!;
    expect(second.missingMinutes).toBe(deleted + (await settledSince(first.checkedUntil)).n);
    await eventually(async () => (await openGaps()) === 0, 'holes filled', 60_000, 250);
    for (const symbol of SYMBOLS) {
      const after = await candles1m(symbol);
      expect(after.slice(0, before[symbol]!.length)).toEqual(before[symbol]);
    }

    // The hour before the fake's history has no data: it was asked once (inside the first, filled gap) and is not asked again.
    const gapCount = (await db.sql`select count(*)::int as n from gaps`)[0]!.n;
    const third = await runNow(JOB_NAMES.gapFill);
    const newlySettled = await settledSince(second.checkedUntil);
    expect(third.detected).toBe(newlySettled.rows);
    expect((await db.sql`select count(*)::int as n from gaps`)[0]!.n).toBe(gapCount + newlySettled.rows);
    expect(gapsAfterFirst.every((g) => g.status === 'filled' || g.status === 'no_data')).toBe(true);
  }, 240_000);

  it('a feed that stops makes the next health run enqueue a fill for it at once', async () => {
    fake.controls.outage(40_000);
    await new Promise((r) => setTimeout(r, 15_000));
    const result = await runNow(JOB_NAMES.health);
    expect(result.unhealthy).toBe(2);
    const health = await db.sql`select symbol, status from series_health order by symbol`;
    expect(health.map((h) => h.status)).toEqual(['stale', 'stale']);
    const backfill = new Queue(backfillQueueName('binance'), { connection: redis.redis, prefix: redis.prefix });
    try {
      const jobs = await backfill.getJobs(['waiting', 'active', 'completed', 'delayed']);
      const healthJobs = jobs.filter((j) => j.data.reason === 'health');
      expect(healthJobs.map((j) => j.data.symbol).sort()).toEqual(SYMBOLS);
    } finally {
      await backfill.close();
    }
    const events = await db.sql`select count(*)::int as n from system_events where kind = 'series_unhealthy'`;
    expect(events[0]!.n).toBe(2);
  }, 120_000);

  it('ten restarts (and two replicas at once) leave exactly one scheduled job per id, and remove ids no longer configured', async () => {
    await maintenance.upsertJobScheduler('retired-report', { pattern: '0 5 * * *', tz: 'UTC' }, { name: JOB_NAMES.health, data: {} });
    await scheduler?.stop();
    scheduler = undefined;
    for (let i = 0; i < 9; i++) await (await startScheduler()).stop();
    const pair = await Promise.all([startScheduler(), startScheduler()]);
    await Promise.all(pair.map((p) => p.stop()));
    const schedulers = await maintenance.getJobSchedulers(0, -1);
    expect(schedulers.map((s) => s.id ?? s.key).sort()).toEqual([JOB_NAMES.gapFill, JOB_NAMES.health]);
    const delayed = await maintenance.getJobs(['delayed']);
    expect(delayed.map((j) => j.name).sort()).toEqual([JOB_NAMES.gapFill, JOB_NAMES.health]);
  }, 180_000);
});

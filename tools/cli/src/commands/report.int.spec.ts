import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createTestDatabase, createTestRedis, eventually, startPrivateRedis, type PrivateRedis, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { migrate } from '@tickvault/db';
import { DEFAULT_JOB_OPTIONS, FAILED_JOBS_KEPT, readRedisMemory, ServiceRegistration } from '@tickvault/queue';
import { JOB_NAMES, QUEUE_NAMES } from '@tickvault/schema';
import { runCli } from '../testing/run-cli.js';
import type { Report, SeriesReport } from './report.js';

describe('tickvault report', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let env: Record<string, string>;
  const lastTick = new Date(Date.now() - 60_000);

  beforeAll(async () => {
    [db, redis] = await Promise.all([createTestDatabase(migrate), createTestRedis()]);
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      CRYPTO_SOURCES: 'sim',
      CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT',
      STOCK_SOURCES: 'sim',
      STOCK_SYMBOLS: 'AAPL',
      MACRO_SOURCES: 'sim',
      MACRO_SERIES: 'DGS10',
    };
    await db.sql`
      insert into ticks (source, symbol, asset_class, ts, price, size, trade_id) values
        ('sim', 'BTC/USDT', 'crypto', ${new Date(lastTick.getTime() - 120_000)}, 100, 1, '1'),
        ('sim', 'BTC/USDT', 'crypto', ${new Date(lastTick.getTime() - 60_000)}, 101, 2, '2'),
        ('sim', 'BTC/USDT', 'crypto', ${lastTick}, 102, 3, '3'),
        ('legacy', 'XYZ', 'stock', ${lastTick}, 5, 1, null)`;
    await db.sql`
      insert into candles (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count, first_ts, last_ts) values
        ('sim', 'BTC/USDT', '1m', '2026-01-01T10:00:00Z', 1, 1, 1, 1, 1, 1, '2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z'),
        ('sim', 'BTC/USDT', '1m', '2026-01-01T10:01:00Z', 1, 1, 1, 1, 1, 1, '2026-01-01T10:01:00Z', '2026-01-01T10:01:00Z'),
        ('sim', 'BTC/USDT', '5m', '2026-01-01T10:00:00Z', 1, 1, 1, 1, 2, 2, '2026-01-01T10:00:00Z', '2026-01-01T10:01:00Z')`;
    await db.sql`
      insert into rejected_ticks (rejected_at, source, symbol, reason, detail, sample, origin, job_key, position) values
        (now(), 'sim', 'BTC/USDT', 'invalid_price', 'price must be positive', '{}', 'writer', 'ticks:1', 0),
        (now() - interval '3 days', 'sim', 'BTC/USDT', 'invalid_price', 'price must be positive', '{}', 'writer', 'ticks:2', 0)`;
    await db.sql`
      insert into system_events (service, kind, symbol, details)
      values ('writer', 'postgres_recovered', null, ${db.sql.json({ error: 'connect postgres://writer:LeakMe@db:5432/x refused' })})`;
    const queue = new Queue(QUEUE_NAMES.ticks, { connection: redis.redis, prefix: redis.prefix });
    await queue.add(JOB_NAMES.tickBatch, { v: 1, producer: 'test', ticks: [], rejected: [] });
    await queue.close();
  });
  afterAll(async () => {
    await Promise.all([db?.drop(), redis?.cleanup()]);
  });

  it('--json lists configured series with and without data, extra stored series, queues, rejections and events', async () => {
    const result = await runCli(['report', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.errors).toEqual([]);
    const series = new Map<string, SeriesReport>(report.series!.map((s) => [`${s.source}:${s.symbol}`, s]));

    expect([...series.keys()]).toEqual(['sim:BTC/USDT', 'sim:ETH/USDT', 'sim:AAPL', 'sim:DGS10', 'legacy:XYZ']);
    expect(series.get('sim:ETH/USDT')).toEqual({
      source: 'sim', symbol: 'ETH/USDT', assetClass: 'crypto', configured: true,
      ticks: 0, firstTick: null, lastTick: null, lagMs: null, candles: 0, candles1m: 0, last1mOpenTime: null,
    });
    const btc = series.get('sim:BTC/USDT')!;
    expect(btc).toMatchObject({
      configured: true,
      ticks: 3,
      firstTick: new Date(lastTick.getTime() - 120_000).toISOString(),
      lastTick: lastTick.toISOString(),
      candles: 3,
      candles1m: 2,
      last1mOpenTime: '2026-01-01T10:01:00.000Z',
    });
    expect(btc.lagMs).toBeGreaterThanOrEqual(60_000);
    expect(series.get('legacy:XYZ')).toMatchObject({ configured: false, assetClass: 'stock', ticks: 1 });

    expect(report.queues).toEqual([
      { name: 'ticks', counts: { waiting: 1, prioritized: 0, active: 0, delayed: 0, completed: 0, failed: 0 }, paused: false },
      { name: 'events', counts: { waiting: 0, prioritized: 0, active: 0, delayed: 0, completed: 0, failed: 0 }, paused: false },
      { name: 'maintenance', counts: { waiting: 0, prioritized: 0, active: 0, delayed: 0, completed: 0, failed: 0 }, paused: false },
      { name: 'backfill-sim', counts: { waiting: 0, prioritized: 0, active: 0, delayed: 0, completed: 0, failed: 0 }, paused: false },
    ]);
    expect(report.health).toEqual([]);
    expect(report.gaps).toEqual({ counts: { open: 0, filled: 0, no_data: 0, failed: 0 }, open: [] });
    expect(report.rejections).toEqual([{ source: 'sim', reason: 'invalid_price', last24h: 1, total: 2 }]);
    expect(report.events).toHaveLength(1);
    expect(report.events![0]).toMatchObject({ service: 'writer', kind: 'postgres_recovered' });
    expect(result.stdout).not.toContain('LeakMe');
  });

  it('prints the same as readable tables', async () => {
    const result = await runCli(['report'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/sim:ETH\/USDT\s+crypto\s+0\s+-/);
    expect(result.stdout).toContain('legacy:XYZ *');
    expect(result.stdout).toMatch(/ticks\s+1\s+0/);
    expect(result.stdout).toMatch(/sim\s+invalid_price\s+1\s+2/);
    expect(result.stdout).not.toContain('LeakMe');
  });

  it('still reports the database when Redis is unreachable, names the problem and exits 1', async () => {
    const result = await runCli(['report', '--json'], { ...env, REDIS_URL: 'redis://:Hidden1@127.0.0.1:1' });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.queues).toBeNull();
    expect(report.series?.length).toBe(5);
    expect(report.errors).toEqual([expect.stringMatching(/^Redis \(redis:\/\/:\*\*\*@127\.0\.0\.1:1\): .*ECONNREFUSED/)]);
    expect(report.services).toBeNull();
    expect(result.stdout).not.toContain('Hidden1');
  });

  it('knows what the running stack runs from the service registry, whatever this shell configures (#13 item 7)', async () => {
    // This shell configures only sim; ingest-stock and ingest-crypto run alpaca and coinbase elsewhere.
    await db.sql`insert into ticks (source, symbol, asset_class, ts, price, size, trade_id) values ('alpaca', 'AAPL', 'stock', ${lastTick}, 190, 1, 'a1')`;
    const since = new Date(Date.now() - 3 * 60_000).toISOString();
    const logger = { info: () => {}, warn: () => {} };
    const stock = new ServiceRegistration({
      redis: redis.redis, prefix: redis.prefix, service: 'ingest-stock', logger,
      describe: () => ({
        environment: 'test',
        queues: [{ name: 'ticks', prefix: redis.prefix, role: 'produces' }, { name: 'backfill-alpaca', prefix: redis.prefix, role: 'consumes' }],
        ingest: { assetClass: 'stock', symbols: ['AAPL'], shards: 1, sources: [{ source: 'alpaca', state: 'connected', since, reason: null, lastMessageAt: since, symbols: ['AAPL'] }] },
      }),
    });
    const crypto = new ServiceRegistration({
      redis: redis.redis, prefix: redis.prefix, service: 'ingest-crypto', logger,
      describe: () => ({
        environment: 'test',
        queues: [{ name: 'backfill-coinbase', prefix: redis.prefix, role: 'consumes' }],
        ingest: {
          assetClass: 'crypto', symbols: ['BTC/USD'], shards: 1,
          sources: [{ source: 'coinbase', state: 'reconnecting', since, reason: 'error: connect ECONNREFUSED 10.0.0.9:443', lastMessageAt: null, symbols: ['BTC/USD'] }],
        },
      }),
    });
    const writer = new ServiceRegistration({
      redis: redis.redis, prefix: redis.prefix, service: 'writer', logger,
      describe: () => ({ environment: 'test', queues: [{ name: 'ticks', prefix: redis.prefix, role: 'consumes' }], writer: { shards: [0] } }),
    });
    await Promise.all([stock.start(), crypto.start(), writer.start()]);
    try {
      const result = await runCli(['report', '--json'], env);
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as Report;
      const series = new Map(report.series!.map((s) => [`${s.source}:${s.symbol}`, s]));
      expect(series.get('alpaca:AAPL')).toMatchObject({ configured: true, assetClass: 'stock', ticks: 1 });
      expect(series.get('coinbase:BTC/USD')).toMatchObject({ configured: true, assetClass: 'crypto', ticks: 0 });
      expect(series.get('legacy:XYZ')).toMatchObject({ configured: false });
      expect(report.queues!.map((q) => q.name)).toEqual(['ticks', 'events', 'maintenance', 'backfill-sim', 'backfill-coinbase', 'backfill-alpaca']);
      expect(report.services!.map((s) => s.service)).toEqual(['ingest-crypto', 'ingest-stock', 'writer']);
      expect(report.services![0]).toMatchObject({ pid: process.pid, ingest: { sources: [{ source: 'coinbase', state: 'reconnecting' }] } });
      expect(report.services![0]!.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
      // The shared test Redis may have no maxmemory, which is warned about too.
      expect(report.warnings.filter((w) => !w.startsWith('Redis has no maxmemory'))).toEqual([expect.stringMatching(/^ingest-crypto@\S+ \(pid \d+\): coinbase reconnecting for 3m \d\ds, 1 symbol, error: connect ECONNREFUSED 10\.0\.0\.9:443$/)]);

      const text = await runCli(['report'], env);
      expect(text.stdout).toMatch(/^  alpaca:AAPL\s+stock\s+1 /m);
      expect(text.stdout).not.toMatch(/alpaca:AAPL \*/);
      expect(text.stdout).toMatch(/^  backfill-alpaca\s+0/m);
      expect(text.stdout).toMatch(/^  ingest-stock\s+\S+\s+\d+\s+\S+\s+.+ ago\s+alpaca connected, 1 symbol, last message 3m \d\ds ago$/m);
      expect(text.stdout).toMatch(/^  writer\s+.+tick shard 0$/m);
    } finally {
      await Promise.all([stock.stop(), crypto.stop(), writer.stop()]);
    }
  });
});

describe('tickvault report: Redis limits', () => {
  let db: TestDatabase;
  let server: PrivateRedis;
  let env: Record<string, string>;
  const prefix = '{tvreport}';

  beforeAll(async () => {
    [db, server] = await Promise.all([createTestDatabase(migrate), startPrivateRedis()]);
    env = { DATABASE_URL: db.url, REDIS_URL: server.url, QUEUE_PREFIX: prefix, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: 'BTC/USDT', STOCK_SOURCES: '', MACRO_SOURCES: '' };
    // A failure that hit every job: the failed set fills to its cap.
    const queue = new Queue(QUEUE_NAMES.ticks, { connection: server.admin, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    await queue.addBulk(Array.from({ length: FAILED_JOBS_KEPT + 5 }, () => ({ name: JOB_NAMES.tickBatch, data: { v: 1, producer: 'test', ticks: [], rejected: [] } })));
    const connection = new Redis(server.url, { maxRetriesPerRequest: null });
    const worker = new Worker(queue.name, async () => { throw new UnrecoverableError('relation "tick_rows" does not exist'); }, { connection, prefix, concurrency: 50 });
    try {
      await eventually(async () => {
        const counts = await queue.getJobCounts('waiting', 'active', 'failed');
        return counts.waiting === 0 && counts.active === 0 && counts.failed === FAILED_JOBS_KEPT;
      }, 'every job failed', 60_000);
    } finally {
      await worker.close();
      connection.disconnect();
      await queue.close();
    }
    // Redis at ~90% of its maxmemory.
    const { usedBytes } = await readRedisMemory(server.admin);
    await server.admin.config('SET', 'maxmemory', String(Math.round(usedBytes / 0.9)));
  });
  afterAll(async () => {
    await Promise.all([db?.drop(), server?.stop()]);
  });

  it('--json gives Redis memory against maxmemory and warns about it and about a full failed set, exit 0', async () => {
    const result = await runCli(['report', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.errors).toEqual([]);
    expect(report.redisMemory).toMatchObject({ level: 'high', maxBytes: expect.any(Number), usedBytes: expect.any(Number) });
    expect(report.redisMemory!.usedRatio).toBeGreaterThanOrEqual(0.8);
    expect(report.redisMemory!.usedRatio).toBeLessThan(1);
    expect(report.warnings).toEqual([
      expect.stringMatching(/^Redis memory is high \(\d+ MiB used of \d+ MiB maxmemory \((8|9)\d%\)\); at 100% it refuses new jobs/),
      expect.stringMatching(/^ticks: 1,000 failed jobs, as many as are kept: each new failure discards the oldest/),
    ]);
    expect(report.queues![0]).toMatchObject({ name: 'ticks', counts: { failed: FAILED_JOBS_KEPT } });
  });

  it('prints the memory line and the warnings at the top', async () => {
    const result = await runCli(['report'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Redis memory: \d+ MiB used of \d+ MiB maxmemory \((8|9)\d%\) ! HIGH$/m);
    const lines = result.stdout.split('\n');
    expect(lines[1]).toMatch(/^! Redis memory is high/);
    expect(lines[2]).toMatch(/^! ticks: 1,000 failed jobs/);
  });

  it('says when Redis has no maxmemory', async () => {
    await server.admin.config('SET', 'maxmemory', '0');
    const report = JSON.parse((await runCli(['report', '--json'], env)).stdout) as Report;
    expect(report.redisMemory).toMatchObject({ level: 'unlimited', maxBytes: 0, usedRatio: null });
    expect(report.warnings[0]).toMatch(/^Redis has no maxmemory \(\d+ MiB used, no maxmemory\): a backlog or a failed set grows until the host kills Redis/);
  });
});

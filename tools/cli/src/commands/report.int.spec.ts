import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { migrate } from '@tickvault/db';
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
    expect(result.stdout).not.toContain('Hidden1');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import { startFakeBinance, type FakeBinance } from '@tickvault/fake-feeds';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, type TestDatabase, type TestRedis,
} from '@tickvault/testing';

/**
 * The whole path with a real provider's wire format: fake Binance → ingest-crypto → BullMQ → writer →
 * Postgres, while the fake drops connections and withholds trades. Every trade the fake executed in
 * the window ends up stored exactly once, and closed 1m candles equal the fake's own klines.
 */
describe('binance end to end (fake Binance, real processes)', () => {
  let fake: FakeBinance;
  let db: TestDatabase;
  let redis: TestRedis;
  let writer: ServiceProcess;
  let ingest: ServiceProcess;
  let ingestHealthPort: number;

  beforeAll(async () => {
    fake = await startFakeBinance({ seed: 5, symbols: ['BTCUSDT', 'ETHUSDT'], tradesPerSecond: 8 });
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), {
      DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0',
    });
    await writer.waitForLog((l) => l.msg === 'writer started');
    // Progress left by an earlier replica 150 s ago: the new one replays from there through REST
    // history, so the stored window spans closed minutes to compare with the exchange's klines.
    const since = new Date(Date.now() - 150_000).toISOString();
    await redis.redis.hset(`${redis.prefix}:ingest-progress:ingest-crypto:binance`, { 'BTC/USDT': since, 'ETH/USDT': since });
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0',
      CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT',
      BINANCE_WS_URL: fake.wsUrl, BINANCE_REST_URL: fake.restUrl, BINANCE_STALE_SECONDS: '5',
      INGEST_FLUSH_MS: '100',
    });
    ingestHealthPort = (await ingest.waitForLog((l) => l.msg === 'ingest-crypto started')).healthPort as number;
  });

  afterAll(async () => {
    await ingest?.stop();
    await writer?.stop();
    await redis?.cleanup();
    await db?.drop();
    await fake?.close();
  });

  it('stores every trade once through drops, outages and a stall, and candles equal the klines', async () => {
    await eventually(async () => (await db.sql`select count(*)::int as n from ticks where source = 'binance'`)[0]!.n > 20, 'first trades stored', 30_000, 200);
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    fake.controls.dropAll();
    await pause(1500);
    fake.controls.outage(1200);
    await pause(2500);
    fake.controls.withhold(800);
    await pause(1500);
    fake.controls.stall();
    await pause(7000); // the 5 s watchdog notices and reconnects
    fake.controls.dropAll();
    await pause(2500);

    // Reconnects back off while connections keep failing young, so the last one may still be pending.
    await eventually(async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${ingestHealthPort}/metrics`)).text();
      return Number(/^tickvault_source_reconnects_total\{[^}]*source="binance"[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0) >= 3;
    }, 'three reconnects counted in /metrics', 20_000, 250);

    await ingest.stop();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    await eventually(async () => {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    }, 'queue drained', 30_000, 200);
    await queue.close();
    connection.disconnect();

    for (const [symbol, binance] of [['BTC/USDT', 'BTCUSDT'], ['ETH/USDT', 'ETHUSDT']] as const) {
      const [range] = await db.sql`
        select min(trade_id::bigint)::text as first, max(trade_id::bigint)::text as last, count(*)::int as n,
               count(distinct trade_id)::int as distinct_ids, min(ts) as from_ts, max(ts) as to_ts
        from ticks where source = 'binance' and symbol = ${symbol}`;
      const expected = fake.trades(binance, range!.from_ts.getTime(), range!.to_ts.getTime() + 1);
      // No hole: every trade the fake executed between the first and last stored one is stored, once.
      const storedIds = new Set((await db.sql`select trade_id from ticks where source = 'binance' and symbol = ${symbol}`).map((r) => r.trade_id as string));
      const missing = expected.filter((t) => !storedIds.has(String(t.id))).map((t) => ({ id: t.id, time: new Date(t.time).toISOString() }));
      expect(missing, `${symbol}: trades the fake executed but nobody stored`).toEqual([]);
      expect(range!.n).toBe(expected.length);
      expect(range!.distinct_ids).toBe(expected.length);
      expect(Number(range!.last) - Number(range!.first) + 1).toBe(expected.length);

      // Closed minutes fully inside the window: stored candles equal the exchange's klines.
      const from = Math.ceil(range!.from_ts.getTime() / 60_000) * 60_000;
      const to = Math.floor(range!.to_ts.getTime() / 60_000) * 60_000;
      expect(to - from).toBeGreaterThanOrEqual(60_000);
      const response = await fetch(`${fake.restUrl}/api/v3/klines?symbol=${binance}&interval=1m&startTime=${from}&endTime=${to - 1}`);
      const klines = (await response.json()) as [number, string, string, string, string, string, number, string, number][];
      const candles = await db.sql`
        select (extract(epoch from open_time) * 1000)::bigint::text as t, open, high, low, close, volume, trade_count
        from candles where source = 'binance' and symbol = ${symbol} and timeframe = '1m'
          and open_time >= ${new Date(from)} and open_time < ${new Date(to)} order by open_time`;
      expect(candles.length).toBe(klines.length);
      expect(klines.length).toBeGreaterThanOrEqual(1);
      klines.forEach((k, i) => {
        const c = candles[i]!;
        expect(Number(c.t)).toBe(k[0]);
        expect([Number(c.open), Number(c.high), Number(c.low), Number(c.close), Number(c.volume), c.trade_count])
          .toEqual([Number(k[1]), Number(k[2]), Number(k[3]), Number(k[4]), Number(k[5]), k[8]]);
      });
    }
  });
});

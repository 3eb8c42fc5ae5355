import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { JOB_NAMES, QUEUE_NAMES } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import { startFakeBinance, type FakeBinance } from '@tickvault/fake-feeds';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, type TestDatabase, type TestRedis,
} from '@tickvault/testing';

/**
 * Bad rows in a provider's bar answer, end to end with real processes: fake Binance behind a proxy
 * that spoils two kline rows → ingest-crypto's backfill worker → writer → Postgres, driven by the
 * scheduler's gap-fill. The spoilt rows must show up as rejections, their minutes must not be stored
 * as `no_data` (the minutes before the fake's history still are), and once the provider answers
 * them properly the next gap-fill fills them.
 */
const SYMBOL = 'BTC/USDT';
const MINUTE = 60_000;

describe('gap-fill: bad bar rows are rejections and their minutes stay open (real processes)', () => {
  let fake: FakeBinance;
  let proxy: Server;
  let db: TestDatabase;
  let redis: TestRedis;
  let writer: ServiceProcess;
  let ingest: ServiceProcess;
  let scheduler: ServiceProcess;
  let maintenance: Queue;
  let spoil = true;
  // Two minutes of the fake's 30-minute history, read before any process starts.
  const anchor = Math.floor(Date.now() / MINUTE) * MINUTE;
  const notDecimal = anchor - 20 * MINUTE; // high "abc": refused by the source's kline check
  const highBelowLow = anchor - 15 * MINUTE; // a well-formed row whose high is below its low: refused by the bar check
  const at = (ms: number) => new Date(ms).toISOString();
  const env = () => ({ DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0' });

  const runGapFill = async () => {
    const job = await maintenance.add(JOB_NAMES.gapFill, { requestedBy: 'test' });
    await eventually(async () => {
      if (await job.isFailed()) throw new Error(`gap-fill failed: ${(await maintenance.getJob(job.id!))?.failedReason}`);
      return (await job.isCompleted()) || undefined;
    }, 'gap-fill run completed', 60_000, 200);
  };
  const openGaps = async () => (await db.sql`select count(*)::int as n from gaps where status = 'open'`)[0]!.n as number;
  const candleAt = async (ms: number) =>
    (await db.sql<{ h: string }[]>`select high::text as h from candles where source = 'binance' and symbol = ${SYMBOL} and timeframe = '1m' and open_time = ${at(ms)}`)[0];

  beforeAll(async () => {
    fake = await startFakeBinance({ seed: 12, symbols: ['BTCUSDT'], tradesPerSecond: 2, historyMs: 30 * MINUTE });
    // Forwards every REST call to the fake; while `spoil` is set, two kline rows are spoilt on the way.
    proxy = createServer((req, res) => {
      void (async () => {
        const upstream = await fetch(`${fake.restUrl}${req.url ?? '/'}`);
        let text = await upstream.text();
        if (spoil && req.url?.startsWith('/api/v3/klines') && upstream.ok) {
          const rows = JSON.parse(text) as unknown[][];
          for (const row of rows) {
            if (row[0] === notDecimal) row[2] = 'abc';
            if (row[0] === highBelowLow) row[2] = '0.00000001';
          }
          text = JSON.stringify(rows);
        }
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        for (const name of ['x-mbx-used-weight-1m', 'retry-after']) {
          const value = upstream.headers.get(name);
          if (value !== null) headers[name] = value;
        }
        res.writeHead(upstream.status, headers).end(text);
      })().catch((error: Error) => res.writeHead(502).end(error.message));
    });
    // A free port: a fixed one could be taken by anything else on the machine.
    await new Promise<void>((resolve, reject) => proxy.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    const proxyPort = (proxy.address() as AddressInfo).port;
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), { ...env(), CANDLE_RETENTION: '2000,1m=120' });
    await writer.waitForLog((l) => l.msg === 'writer started');
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...env(), CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: SYMBOL,
      BINANCE_WS_URL: fake.wsUrl, BINANCE_REST_URL: `http://127.0.0.1:${proxyPort}`, BINANCE_STALE_SECONDS: '5', INGEST_FLUSH_MS: '100',
    });
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started');
    scheduler = new ServiceProcess(repoPath('apps/scheduler/src/main.ts'), {
      ...env(), CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: SYMBOL, STOCK_SOURCES: '', MACRO_SOURCES: '',
      CANDLE_RETENTION: '2000,1m=120', GAP_FILL_CRON: '0 3 1 1 *', HEALTH_CRON: '0 4 1 1 *',
    });
    await scheduler.waitForLog((l) => l.msg === 'scheduler started');
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
    await new Promise((resolve) => proxy?.close(resolve));
  });

  it('records the spoilt rows as rejections, leaves their minutes open, and fills them once the provider answers properly', async () => {
    await runGapFill();
    await eventually(async () => (await openGaps()) === 0, 'first gap-fill settled', 90_000, 250);

    // Both rows are rejections an operator can see, with the reason and the row.
    const rejected = await eventually(async () => {
      const rows = await db.sql<{ reason: string; detail: string; sample: string; symbol: string }[]>`
        select reason, detail, sample, symbol from rejected_ticks where source = 'binance' order by id`;
      return rows.length >= 2 ? rows : undefined;
    }, 'two rejections stored', 30_000, 250);
    expect(rejected.every((r) => r.reason === 'invalid_bar' && r.symbol === SYMBOL)).toBe(true);
    expect(rejected.some((r) => r.detail.includes('"abc"') && r.sample.includes(String(notDecimal)))).toBe(true);
    expect(rejected.some((r) => r.sample.includes('0.00000001'))).toBe(true);

    // Neither minute has a candle, neither is marked no_data, and the gap holding them says why it is not filled.
    for (const minute of [notDecimal, highBelowLow]) {
      expect(await candleAt(minute)).toBeUndefined();
      const covering = await db.sql<{ status: string; detail: string | null }[]>`
        select status, detail from gaps where source = 'binance' and symbol = ${SYMBOL} and range_start <= ${at(minute)} and range_end > ${at(minute)}`;
      expect(covering.map((g) => g.status)).not.toContain('no_data');
      expect(covering.some((g) => g.status === 'failed' && /refused/.test(g.detail ?? ''))).toBe(true);
    }
    // The minutes before the fake's history are still recorded as empty at the source.
    const empty = await db.sql`select 1 from gaps where status = 'no_data' and range_end <= ${at(anchor - 30 * MINUTE)}`;
    expect(empty.length).toBeGreaterThan(0);
    expect(await candleAt(highBelowLow - MINUTE)).toBeDefined();

    // The provider answers properly now: the next gap-fill asks for those minutes again and fills them.
    spoil = false;
    await runGapFill();
    for (const minute of [notDecimal, highBelowLow]) {
      const candle = await eventually(() => candleAt(minute), `candle of ${at(minute)} stored`, 90_000, 250);
      const [kline] = (await (await fetch(`${fake.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${minute}&endTime=${minute}&limit=1`)).json()) as string[][];
      expect(candle.h).toBe(kline![2]);
    }
  }, 240_000);
});

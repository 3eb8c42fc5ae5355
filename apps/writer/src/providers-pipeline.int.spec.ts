import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import {
  startFakeAlpaca, startFakeCoinbase, startFakeFred, startFakeYahoo,
  type FakeAlpaca, type FakeCoinbase, type FakeFred, type FakeYahoo,
} from '@tickvault/fake-feeds';
import {
  createTestDatabase, createTestRedis, eventually, REPO_ROOT, repoPath, ServiceProcess, type LogLine, type TestDatabase, type TestRedis,
} from '@tickvault/testing';

/**
 * Every other provider end to end, with real processes: fake Coinbase → ingest-crypto, fake Alpaca
 * and fake Yahoo → ingest-stock, fake FRED → ingest-macro, all through BullMQ into one writer and
 * Postgres. While they run, the streaming fakes drop their connections (three times and an outage)
 * and send malformed frames, Yahoo and FRED answer with an outage, a 429 and malformed bodies, FRED
 * revises two published values, and the stock and macro services are restarted once. Afterwards:
 * every trade the fakes executed in the stored window is stored exactly once, closed 1m candles
 * equal the fakes' own candles / bars (Alpaca's corrected ones), FRED's points equal its
 * observations with the revisions applied, and `tickvault report` lists what was rejected.
 */

const CRYPTO = [['BTC/USD', 'BTC-USD'], ['ETH/USD', 'ETH-USD']] as const;
const STOCKS = ['AAPL', 'MSFT'] as const;
const SERIES = ['DGS10', 'T10Y2Y', 'CPIAUCSL'] as const;
const ALPACA_KEY_ID = 'PKFAKE0123456789ABCD';
const ALPACA_SECRET_KEY = 'fakeSecretKey0123456789abcdefXYZ';
const FRED_API_KEY = 'abcdef0123456789abcdef0123456789';
/** Alpaca's late trades become visible, and their bar's correction is pushed, this long after the minute. */
const CORRECTION_DELAY_MS = 10_000;
/** Progress left by an earlier replica this long ago: the ingest replays from there, so closed minutes exist at once. */
const REPLAY_MS = 240_000;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const minuteFloor = (ms: number) => Math.floor(ms / 60_000) * 60_000;
const minuteCeil = (ms: number) => Math.ceil(ms / 60_000) * 60_000;

describe('coinbase, alpaca, yahoo and fred end to end (fake servers, real processes)', () => {
  let coinbase: FakeCoinbase;
  let alpaca: FakeAlpaca;
  let yahoo: FakeYahoo;
  let fred: FakeFred;
  let db: TestDatabase;
  let redis: TestRedis;
  let writer: ServiceProcess;
  let crypto: ServiceProcess;
  let stock: ServiceProcess;
  let macro: ServiceProcess;
  const processes: ServiceProcess[] = [];
  let cryptoEnv: Record<string, string>;
  let stockEnv: Record<string, string>;
  let macroEnv: Record<string, string>;
  let stockStartedAt: number;

  const startIngest = async (service: 'ingest-crypto' | 'ingest-stock' | 'ingest-macro', env: Record<string, string>) => {
    const child = new ServiceProcess(repoPath(`apps/${service}/src/main.ts`), env);
    processes.push(child);
    const started = await child.waitForLog((l) => l.msg === `${service} started`, 60_000);
    return { child, healthPort: started.healthPort as number };
  };

  beforeAll(async () => {
    [coinbase, alpaca, yahoo, fred, db, redis] = await Promise.all([
      startFakeCoinbase({ seed: 11, products: CRYPTO.map(([, p]) => p) }),
      startFakeAlpaca({
        seed: 12, symbols: STOCKS, keyId: ALPACA_KEY_ID, secretKey: ALPACA_SECRET_KEY,
        correctionDelayMs: CORRECTION_DELAY_MS, lateTradeShare: 0.02,
      }),
      startFakeYahoo({ seed: 13, symbols: STOCKS }),
      startFakeFred({ seed: 14, series: SERIES, apiKey: FRED_API_KEY }),
      createTestDatabase(migrate),
      createTestRedis(),
    ]);
    const common = { REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0', INGEST_FLUSH_MS: '100' };
    cryptoEnv = {
      ...common, CRYPTO_SOURCES: 'coinbase', CRYPTO_SYMBOLS: CRYPTO.map(([s]) => s).join(','),
      COINBASE_WS_URL: coinbase.wsUrl, COINBASE_REST_URL: coinbase.restUrl,
    };
    stockEnv = {
      ...common, STOCK_SOURCES: 'alpaca,yahoo', STOCK_SYMBOLS: STOCKS.join(','),
      ALPACA_WS_URL: alpaca.wsUrl, ALPACA_REST_URL: alpaca.restUrl, ALPACA_FEED: 'iex',
      ALPACA_KEY_ID, ALPACA_SECRET_KEY,
      YAHOO_CHART_URL: yahoo.chartUrl, YAHOO_POLL_SECONDS: '5',
    };
    macroEnv = {
      ...common, MACRO_SOURCES: 'fred', MACRO_SERIES: SERIES.join(','),
      FRED_API_URL: fred.apiUrl, FRED_GRAPH_URL: fred.graphUrl, FRED_API_KEY, FRED_POLL_SECONDS: '60',
    };

    writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), {
      DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0',
    });
    processes.push(writer);
    await writer.waitForLog((l) => l.msg === 'writer started', 60_000);

    const since = new Date(Date.now() - REPLAY_MS).toISOString();
    await redis.redis.hset(`${redis.prefix}:ingest-progress:ingest-crypto:coinbase`, Object.fromEntries(CRYPTO.map(([s]) => [s, since])));
    await redis.redis.hset(`${redis.prefix}:ingest-progress:ingest-stock:alpaca`, Object.fromEntries(STOCKS.map((s) => [s, since])));
    // Faults met by the very first requests: Yahoo is down (until the test has seen it), FRED
    // answers one 429 and then a body cut in half.
    await yahoo.controls.outage(600_000);
    fred.controls.force429({ retryAfterSeconds: 1, count: 1 });
    fred.controls.malformed(1);

    stockStartedAt = Date.now();
    [{ child: crypto }, { child: stock }, { child: macro }] = await Promise.all([
      startIngest('ingest-crypto', cryptoEnv),
      startIngest('ingest-stock', stockEnv),
      startIngest('ingest-macro', macroEnv),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await redis?.cleanup();
    await db?.drop();
    await Promise.all([coinbase?.close(), alpaca?.close(), yahoo?.close(), fred?.close()]);
  });

  const reconnects = async (port: number, source: string) => {
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return Number(new RegExp(`^tickvault_source_reconnects_total\\{[^}]*source="${source}"[^}]*\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  };

  const storedIds = async (source: string, symbol: string) => {
    const rows = await db.sql`select trade_id, ts from ticks where source = ${source} and symbol = ${symbol}`;
    return rows.map((r) => ({ id: r.trade_id as string, ts: (r.ts as Date).getTime() }));
  };

  /** Trades in the stored window (first to last stored trade) that the fake executed and nobody stored. */
  const missingTrades = async (source: string, symbol: string, executed: (fromMs: number, toMs: number) => { id: string; time: number }[]) => {
    const stored = await storedIds(source, symbol);
    if (stored.length === 0) return [{ id: '(nothing stored)', time: 0 }];
    const ids = new Set(stored.map((s) => s.id));
    const from = Math.min(...stored.map((s) => s.ts));
    const to = Math.max(...stored.map((s) => s.ts));
    return executed(from, to + 1).filter((t) => !ids.has(t.id));
  };

  const coinbaseTrades = (product: string) => (fromMs: number, toMs: number) =>
    coinbase.trades(product, fromMs, toMs).map((t) => ({ id: String(t.tradeId), time: Math.floor(t.timeUs / 1000) }));
  const alpacaTrades = (symbol: string, visibleBy?: number) => (fromMs: number, toMs: number) =>
    alpaca.trades(symbol, fromMs, toMs, visibleBy).map((t) => ({ id: `${t.exchange}-${t.id}`, time: t.time }));

  /** Drops, an outage and malformed frames on a streaming fake, each drop hitting a subscribed connection. */
  async function streamFaults(name: string, fake: {
    controls: { dropAll(): number; outage(ms: number): void; injectMalformed(): number; force429?(o: { retryAfterSeconds: number; count?: number }): void };
    subscribed(): number;
  }): Promise<void> {
    const resubscribed = async (before: number) => {
      await eventually(() => fake.subscribed() > before, `${name} subscribed again`, 30_000, 50);
      await pause(800); // a little live data, and the reconnect's catch-up under way
    };
    await eventually(() => fake.controls.injectMalformed() > 0, `${name} malformed frames sent on a live connection`, 30_000, 100);
    for (let drop = 0; drop < 3; drop++) {
      const before = fake.subscribed();
      // The second catch-up meets the rate limit.
      if (drop === 1) fake.controls.force429?.({ retryAfterSeconds: 1, count: 2 });
      expect(fake.controls.dropAll(), `${name} drop ${drop + 1}`).toBeGreaterThan(0);
      await resubscribed(before);
    }
    const before = fake.subscribed();
    fake.controls.outage(2000);
    await resubscribed(before);
    await eventually(() => fake.controls.injectMalformed() > 0, `${name} malformed frames sent after the outage`, 30_000, 100);
  }

  it('stores every trade once, candles equal the providers\' own, revisions applied, rejections reported', async () => {
    const cryptoHealth = Number((crypto.lines.find((l) => l.msg === 'ingest-crypto started') as LogLine).healthPort);
    const stockHealth = Number((stock.lines.find((l) => l.msg === 'ingest-stock started') as LogLine).healthPort);

    /** FRED's observations (missing ones skipped) from the first date any poll asked for, against the stored points. */
    async function fredDiff(series: string): Promise<unknown[]> {
      const starts = fred.stats.queries.filter((q) => q.seriesId === series && q.status === 200 && q.start).map((q) => q.start!);
      if (starts.length === 0) return ['no FRED request answered yet'];
      const start = starts.sort()[0]!;
      const expected = fred.observations(series).filter((o) => o.date >= start && o.value !== '.' && o.value !== '').map((o) => [o.date, Number(o.value)]);
      const rows = await db.sql`select ts, price::text as v from ticks where source = 'fred' and symbol = ${series} order by ts`;
      const stored = rows.map((r) => [(r.ts as Date).toISOString().slice(0, 10), Number(r.v)]);
      const key = (x: unknown[]) => JSON.stringify(x);
      const storedKeys = new Set(stored.map(key));
      const expectedKeys = new Set(expected.map(key));
      return [...expected.filter((e) => !storedKeys.has(key(e))).map((e) => ['missing', ...e]), ...stored.filter((s) => !expectedKeys.has(key(s))).map((s) => ['extra', ...s])];
    }

    // --- coinbase: drops, an outage, malformed frames; then everything caught up -------------------
    const cryptoFlow = async () => {
      await eventually(async () => (await db.sql`select count(*)::int as n from ticks where source = 'coinbase'`)[0]!.n > 20, 'first coinbase trades stored', 30_000, 200);
      await streamFaults('coinbase', { controls: coinbase.controls, subscribed: () => coinbase.stats.subscribes });
      await eventually(async () => (await reconnects(cryptoHealth, 'coinbase')) >= 4, 'four coinbase reconnects counted in /metrics', 30_000, 250);
      for (const [symbol, product] of CRYPTO) {
        await eventually(async () => (await missingTrades('coinbase', symbol, coinbaseTrades(product))).length === 0, `${symbol}: coinbase caught up`, 30_000, 500).catch(() => {});
      }
    };

    // --- alpaca: the same, then a restart of ingest-stock; yahoo: outage, 429, malformed bodies ------
    let stockRestartedAt = 0;
    const stockFlow = async () => {
      const yahooFaults = async () => {
        await eventually(() => yahoo.stats.queries.some((q) => q.status === 503), 'a Yahoo request met the outage', 30_000, 50);
        yahoo.controls.reset();
        yahoo.controls.force429({ retryAfterSeconds: 1, count: 1 });
        // One per symbol of the round: the next round may be half an hour away outside the US session.
        yahoo.controls.malformed(['not_json', 'bad_bar']);
        await eventually(() => yahoo.stats.malformedSent === 2 && yahoo.stats.rateLimited === 1, 'Yahoo 429 and malformed bodies served', 30_000, 100);
      };
      const alpacaFaults = async () => {
        await eventually(async () => (await db.sql`select count(*)::int as n from ticks where source = 'alpaca'`)[0]!.n > 20, 'first alpaca trades stored', 30_000, 200);
        await streamFaults('alpaca', { controls: alpaca.controls, subscribed: () => alpaca.stats.authenticated });
        await eventually(async () => (await reconnects(stockHealth, 'alpaca')) >= 4, 'four alpaca reconnects counted in /metrics', 30_000, 250);
      };
      await Promise.all([yahooFaults(), alpacaFaults()]);
      // A restart right after the outage, typically while alpaca's catch-up of it still waits for
      // REST's lag: the new process replays from the saved progress; yahoo reads its day of bars again.
      expect((await stock.stop()).code).toBe(0);
      stockRestartedAt = Date.now();
      const barRequests = alpaca.stats.requests['/v2/stocks/bars'] ?? 0;
      // The restarted service's first answer carries a price Yahoo could not have meant (its bars are fine).
      yahoo.controls.malformed(['bad_price']);
      ({ child: stock } = await startIngest('ingest-stock', stockEnv));
      await eventually(() => yahoo.stats.malformedSent === 3, 'the bad Yahoo price served', 30_000, 100);
      for (const symbol of STOCKS) {
        await eventually(() => yahoo.stats.queries.some((q) => q.symbol === symbol && q.status === 200 && q.at > stockRestartedAt), `${symbol}: Yahoo read after the restart`, 30_000, 100);
        // The new process's own catch-up (from when it asked, to its subscription) done before the final stop.
        await stock.waitForLog((l) => l.msg === 'caught up Alpaca trades' && l.symbol === symbol, 30_000);
        await eventually(
          async () => (await missingTrades('alpaca', symbol, alpacaTrades(symbol, Date.now() - 3000))).length === 0,
          `${symbol}: alpaca caught up after the restart`, 30_000, 500,
        ).catch(() => {});
      }
      // And its bars of the minutes closed while no process was connected (asked for after the trades).
      await eventually(() => (alpaca.stats.requests['/v2/stocks/bars'] ?? 0) >= barRequests + STOCKS.length, 'alpaca bars caught up after the restart', 30_000, 100);
      await pause(500);
    };

    // --- fred: first poll through a 429 and a cut body; a revision; a restart through an outage ------
    let revised: { series: string; date: string; before: string; after: string }[] = [];
    const macroFlow = async () => {
      await eventually(async () => (await db.sql`select count(*)::int as n from rejected_ticks where source = 'fred'`)[0]!.n > 0, 'the cut FRED body rejected', 30_000, 200);
      for (const series of SERIES) {
        await eventually(async () => (await fredDiff(series)).length === 0, `${series}: first FRED poll stored`, 30_000, 300);
      }
      const latest = (series: string) => fred.observations(series).filter((o) => o.value !== '.' && o.value !== '').at(-1)!;
      const dgs = latest('DGS10');
      const cpi = latest('CPIAUCSL');
      revised = [
        { series: 'DGS10', date: dgs.date, before: dgs.value, after: (Number(dgs.value) + 0.37).toFixed(2) },
        { series: 'CPIAUCSL', date: cpi.date, before: cpi.value, after: (Number(cpi.value) + 1.5).toFixed(3) },
      ];
      for (const r of revised) fred.controls.revise(r.series, r.date, r.after);
      await fred.controls.outage(600_000);
      expect((await macro.stop()).code).toBe(0);
      const restartedAt = Date.now();
      ({ child: macro } = await startIngest('ingest-macro', macroEnv));
      await eventually(() => fred.stats.queries.some((q) => q.status === 500 && q.at > restartedAt), 'a FRED request met the outage', 30_000, 50);
      fred.controls.reset();
      for (const r of revised) {
        await eventually(async () => {
          const [row] = await db.sql`select price::text as v from ticks where source = 'fred' and symbol = ${r.series} and ts = ${new Date(`${r.date}T00:00:00Z`)}`;
          return row !== undefined && Number(row.v) === Number(r.after);
        }, `${r.series} ${r.date} revised`, 30_000, 200);
      }
    };

    await Promise.all([cryptoFlow(), stockFlow(), macroFlow()]);

    // Alpaca's minutes must be closed, and their corrections due, before the stop: wait for three of them in the replayed window.
    const firstAlpacaMinute = minuteCeil(stockStartedAt - REPLAY_MS);
    const untilChecked = firstAlpacaMinute + 3 * 60_000 + CORRECTION_DELAY_MS + 2000 - Date.now();
    if (untilChecked > 0) await pause(untilChecked);

    // --- stop the ingest services, let the writer drain the queue -----------------------------------
    const stockStopAt = Date.now();
    await Promise.all([crypto.stop(), stock.stop(), macro.stop()]);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    await eventually(async () => {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    }, 'queue drained', 30_000, 200);
    await queue.close();
    connection.disconnect();

    // --- (1) trades: every one the fake executed in the stored window, stored exactly once ---------
    const checkTrades = async (source: string, symbol: string, mustHave: { id: string; time: number }[], mayHave: Set<string>) => {
      const stored = await storedIds(source, symbol);
      const ids = new Set(stored.map((s) => s.id));
      expect(mustHave.filter((t) => !ids.has(t.id)).map((t) => ({ id: t.id, time: new Date(t.time).toISOString() })), `${source} ${symbol}: trades the fake executed but nobody stored`).toEqual([]);
      expect(stored.filter((s) => !mayHave.has(s.id)), `${source} ${symbol}: stored trades the fake never executed`).toEqual([]);
      expect(ids.size, `${source} ${symbol}: a trade stored twice`).toBe(stored.length);
      return { from: Math.min(...stored.map((s) => s.ts)), to: Math.max(...stored.map((s) => s.ts)) };
    };

    for (const [symbol, product] of CRYPTO) {
      const stored = await storedIds('coinbase', symbol);
      const from = Math.min(...stored.map((s) => s.ts));
      const to = Math.max(...stored.map((s) => s.ts));
      const executed = coinbaseTrades(product)(from, to + 1);
      expect(from).toBeLessThanOrEqual(stockStartedAt - REPLAY_MS + 5000); // the replay reached back
      await checkTrades('coinbase', symbol, executed, new Set(executed.map((t) => t.id)));
      expect(stored.length).toBe(executed.length);

      // (2) Closed minutes fully inside the window equal the exchange's candles, trade counts the fake's trades.
      const first = minuteCeil(from);
      const last = minuteFloor(to);
      expect(last - first).toBeGreaterThanOrEqual(3 * 60_000);
      const response = await fetch(`${coinbase.restUrl}/products/${product}/candles?granularity=60&start=${first / 1000}&end=${(last - 1) / 1000}`);
      const rows = ((await response.json()) as [number, number, number, number, number, number][]).reverse();
      const candles = await db.sql`
        select (extract(epoch from open_time) * 1000)::bigint::text as t, open, high, low, close, volume, trade_count, from_bar
        from candles where source = 'coinbase' and symbol = ${symbol} and timeframe = '1m'
          and open_time >= ${new Date(first)} and open_time < ${new Date(last)} order by open_time`;
      expect(candles.map((c) => Number(c.t))).toEqual(rows.map((r) => r[0] * 1000));
      rows.forEach(([time, low, high, open, close, volume], i) => {
        const c = candles[i]!;
        const count = executed.filter((t) => t.time >= time * 1000 && t.time < time * 1000 + 60_000).length;
        expect([Number(c.open), Number(c.high), Number(c.low), Number(c.close), Number(c.volume), c.trade_count, c.from_bar], `${symbol} ${new Date(time * 1000).toISOString()}`)
          .toEqual([open, high, low, close, volume, count, false]);
      });
    }

    for (const symbol of STOCKS) {
      // Late reports visible in the last moments before the stop may or may not have arrived.
      const mustHave = alpacaTrades(symbol, stockStopAt - 1000);
      const stored = await storedIds('alpaca', symbol);
      const from = Math.min(...stored.map((s) => s.ts));
      const to = Math.max(...stored.map((s) => s.ts));
      expect(from).toBeLessThanOrEqual(stockStartedAt - REPLAY_MS + 5000);
      await checkTrades('alpaca', symbol, mustHave(from, to + 1), new Set(alpacaTrades(symbol)(from, to + 1).map((t) => t.id)));

      // Closed minutes whose correction was due before the stop equal the fake's final bars; the
      // minutes the adapter's bar catch-up and live bars reach are the provider's bars (from_bar).
      const first = minuteCeil(from);
      const last = minuteFloor(Math.min(to, stockStopAt - CORRECTION_DELAY_MS - 1500) - 60_000) + 60_000;
      const bars = alpaca.bars(symbol, first, last);
      expect(bars.length).toBeGreaterThanOrEqual(3);
      const candles = await db.sql`
        select (extract(epoch from open_time) * 1000)::bigint::text as t, open, high, low, close, volume, trade_count, from_bar
        from candles where source = 'alpaca' and symbol = ${symbol} and timeframe = '1m'
          and open_time >= ${new Date(first)} and open_time < ${new Date(last)} order by open_time`;
      expect(candles.map((c) => new Date(Number(c.t)).toISOString())).toEqual(bars.map((b) => new Date(b.openMs).toISOString()));
      bars.forEach((b, i) => {
        const c = candles[i]!;
        expect([Number(c.open), Number(c.high), Number(c.low), Number(c.close), Number(c.volume), c.trade_count], `alpaca ${symbol} ${b.t}`)
          .toEqual([Number(b.o), Number(b.h), Number(b.l), Number(b.c), Number(b.v), b.n]);
      });
      const fromBar = candles.map((c) => c.from_bar as boolean);
      const firstBar = fromBar.indexOf(true);
      expect(firstBar, `alpaca ${symbol}: no minute holds a provider bar`).toBeGreaterThanOrEqual(0);
      expect(fromBar.slice(firstBar).every(Boolean), `alpaca ${symbol}: a minute after the first bar is folded from trades`).toBe(true);
      // The bars reach back before the stream started (the adapter's bar catch-up), and some were corrected.
      expect(Number(candles[firstBar]!.t)).toBeLessThanOrEqual(minuteFloor(stockStartedAt));
      expect(bars.some((b) => {
        const asPushed = alpaca.bars(symbol, b.openMs, b.openMs + 60_000, b.openMs + 60_050)[0];
        return asPushed && (asPushed.n !== b.n || asPushed.v !== b.v);
      }), `alpaca ${symbol}: no checked minute had a late trade`).toBe(true);
    }

    // Yahoo: the restarted service read its day of bars again; minutes final at that read equal the fake's.
    for (const symbol of STOCKS) {
      const read = yahoo.stats.queries.find((q) => q.symbol === symbol && q.status === 200 && q.at > stockRestartedAt)!;
      const from = minuteCeil(read.period1! * 1000);
      const bars = yahoo.bars(symbol, from, read.at, read.at).filter((b) => b.final);
      const withData = bars.filter((b) => b.open !== null);
      expect(withData.length).toBeGreaterThan(1000);
      expect(bars.length - withData.length, 'minutes without trades are served').toBeGreaterThan(0);
      const to = (bars.at(-1)!.time + 60) * 1000;
      const candles = await db.sql`
        select (extract(epoch from open_time) * 1000)::bigint::text as t, open, high, low, close, volume, from_bar
        from candles where source = 'yahoo' and symbol = ${symbol} and timeframe = '1m'
          and open_time >= ${new Date(from)} and open_time < ${new Date(to)} order by open_time`;
      const stored = candles.map((c) => [Number(c.t) / 1000, Number(c.open), Number(c.high), Number(c.low), Number(c.close), Number(c.volume), c.from_bar]);
      const expected = withData.map((b) => [b.time, Number(b.open), Number(b.high), Number(b.low), Number(b.close), Number(b.volume ?? 0), true]);
      expect(stored.filter((s) => !expected.some((e) => e[0] === s[0])), `yahoo ${symbol}: candles of minutes without data`).toEqual([]);
      expect(stored, `yahoo ${symbol}`).toEqual(expected);
    }

    // --- (3) fred: every observation, revisions applied, their candles recomputed --------------------
    for (const series of SERIES) expect(await fredDiff(series), `fred ${series}`).toEqual([]);
    expect(revised).toHaveLength(2);
    for (const r of revised) {
      expect(Number(r.after)).not.toBe(Number(r.before));
      const [point] = await db.sql`select price::text as v from ticks where source = 'fred' and symbol = ${r.series} and ts = ${new Date(`${r.date}T00:00:00Z`)}`;
      expect(Number(point!.v), `${r.series} ${r.date}`).toBe(Number(r.after));
      const timeframe = r.series === 'DGS10' ? '1d' : '1M';
      const [candle] = await db.sql`
        select open::text, high::text, low::text, close::text from candles
        where source = 'fred' and symbol = ${r.series} and timeframe = ${timeframe} and open_time = ${new Date(`${r.date}T00:00:00Z`)}`;
      expect(candle, `${r.series} ${timeframe} candle of ${r.date}`).toBeDefined();
      expect([candle!.open, candle!.high, candle!.low, candle!.close].map(Number)).toEqual(Array(4).fill(Number(r.after)));
    }

    // --- (4) the rejected input, as `tickvault report` shows it ---------------------------------------
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('npm', ['run', '--silent', 'tickvault', '--', 'report', '--json'], {
        cwd: REPO_ROOT,
        env: {
          ...process.env, LOG_FORMAT: 'json', DATA_ENVIRONMENT: 'test',
          DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix,
          CRYPTO_SOURCES: cryptoEnv.CRYPTO_SOURCES!, CRYPTO_SYMBOLS: cryptoEnv.CRYPTO_SYMBOLS!,
          STOCK_SOURCES: stockEnv.STOCK_SOURCES!, STOCK_SYMBOLS: stockEnv.STOCK_SYMBOLS!, ALPACA_KEY_ID, ALPACA_SECRET_KEY,
          MACRO_SOURCES: macroEnv.MACRO_SOURCES!, MACRO_SERIES: macroEnv.MACRO_SERIES!,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { rejections: { source: string; reason: string; last24h: number; total: number }[]; errors: string[] };
    expect(report.errors).toEqual([]);
    const reasons = (source: string) => report.rejections.filter((r) => r.source === source && r.total > 0).map((r) => r.reason).sort();
    const stored = await db.sql`select source, reason, count(*)::int as n from rejected_ticks group by 1, 2 order by 1, 2`;
    expect(report.rejections.map((r) => [r.source, r.reason, r.total]).sort()).toEqual(stored.map((r) => [r.source, r.reason, r.n]).sort());
    expect(reasons('coinbase')).toEqual(expect.arrayContaining(['malformed', 'invalid_price', 'invalid_size', 'invalid_trade_id', 'future_timestamp', 'unknown_symbol', 'oversized']));
    expect(reasons('alpaca')).toEqual(expect.arrayContaining(['malformed', 'invalid_price', 'invalid_size', 'invalid_trade_id', 'future_timestamp', 'unknown_symbol', 'invalid_bar']));
    expect(reasons('yahoo')).toEqual(expect.arrayContaining(['malformed', 'invalid_bar', 'invalid_price']));
    expect(reasons('fred')).toEqual(['malformed']);
  }, 150_000);
});

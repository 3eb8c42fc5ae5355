import { describe, expect, it } from 'vitest';
import { eventually } from '@tickvault/testing';
import { startFakeBinance, type FakeBinance, type FakeBinanceOptions, type FakeTrade } from '@tickvault/fake-feeds';
import { expectDelivered as expectTapeDelivered, expectEmptyHistory, expectHistoryWindow, expectMalformedRejected, expectOutageCaughtUpAfter429, expectRestartCaughtUp, expectStallRecovered, harness, historyAfter429, repeatOutages, until, type TradeTape } from '../kit/testing.js';
import type { Observation } from '../source.js';
import { createBinanceSource, type BinanceSourceOptions } from './binance-source.js';

/**
 * The binance source against the fake Binance (tools/fake-feeds): real sockets, real HTTP, Binance's
 * wire formats, faults on demand. No Redis or Postgres: `stream(ctx)` runs with a collecting context.
 */

const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];
const FAST: Partial<BinanceSourceOptions> = { staleMs: 1500, initialBackoffMs: 100, maxBackoffMs: 1000, batchMs: 20 };

const { startFake, sourceFor, run } = harness({
  symbols: SYMBOLS,
  startFake: (options: FakeBinanceOptions) => startFakeBinance({ seed: 7, symbols: ['BTCUSDT', 'ETHUSDT'], tradesPerSecond: 20, historyMs: 15 * 60_000, pingIntervalMs: 300, ...options }),
  source: (server: FakeBinance, overrides: Partial<BinanceSourceOptions>) =>
    createBinanceSource({ assetClass: 'crypto', seed: 0, settings: { binance: { wsUrl: server.wsUrl, restUrl: server.restUrl } } }, { ...FAST, ...overrides }),
});

const binanceName = (symbol: string) => symbol.replace('/', '');

/** The fake's trades from the first to the last emitted one (by millisecond), as the source must emit them. */
const tapeOf = (server: FakeBinance): TradeTape<FakeTrade> => ({
  expected(symbol, mine) {
    const times = mine.map((o) => Date.parse(o.ts));
    return server.trades(binanceName(symbol), Math.min(...times), Math.max(...times) + 1);
  },
  id: (t) => t.id,
  observation: (symbol, t) => ({ symbol, ts: new Date(t.time).toISOString(), price: t.price, size: t.qty, tradeId: String(t.id) }),
});

/** Waits until every trade up to now arrived without a hole (see kit/testing expectDelivered). */
const expectDelivered = (server: FakeBinance, observations: () => readonly Observation[], symbols: readonly string[] = SYMBOLS) =>
  expectTapeDelivered(tapeOf(server), observations, symbols);

/** Whether the source emitted this very trade of the fake. */
const seen = (observations: readonly Observation[], trade: FakeTrade) => observations.some((o) => o.symbol.replace('/', '') === trade.symbol && o.tradeId === String(trade.id));

describe('binance source against the fake Binance', () => {
  it('streams every trade of every symbol, exactly as sent, and answers pings', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const startedAt = Date.now();
    const r = run(source);
    await until(() => source.stats.serverPings > 2 && server.stats.pongs > 2);
    const summary = await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(r.rejections).toEqual([]);
    expect(source.stats.connections).toBe(1);
    expect(source.stats.serverPings).toBeGreaterThan(2);
    expect(server.stats.pongs).toBeGreaterThan(2); // ws answered the server's pings
    // Over REST come only the trades of the current minute before the connection opened (so a fresh
    // ingest's first minute is complete), none later: the live stream delivered those. (Bounded by
    // when the connection opened, however long that took, not by when the stream was asked for.)
    const minuteStart = Math.floor(startedAt / 60_000) * 60_000;
    const before = SYMBOLS.reduce((n, s) => n + server.trades(binanceName(s), minuteStart, r.connectedAt + 1000).length, 0);
    expect(source.stats.catchUp.trades).toBeLessThanOrEqual(before);
    expect(r.observations.some((o) => Date.parse(o.ts) < startedAt) || startedAt - minuteStart < 100).toBe(true);
    console.info('normal stream', summary);
  });

  it('leaves no hole across repeated outages with withheld trades (REST catch-up)', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await repeatOutages(source.stats, (ms) => server.controls.outage(ms), async (i) => {
      const inOutage = server.controls.tradeNow('BTCUSDT');
      await until(() => source.stats.reconnects.length > i);
      await until(() => seen(r.observations, inOutage));
    });
    // Trades withheld on a live connection: the jump in ids is filled too.
    const gapsBefore = source.stats.catchUp.gaps;
    server.controls.withhold(700);
    const withheld = server.controls.tradeNow('ETHUSDT');
    await until(() => source.stats.catchUp.gaps > gapsBefore && seen(r.observations, withheld));
    const summary = await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(source.stats.catchUp.gaps).toBeGreaterThan(gapsBefore);
    expect(source.stats.reconnects.length).toBeGreaterThanOrEqual(3);
    expect(source.stats.catchUp.trades).toBeGreaterThan(0);
    expect(source.stats.catchUp.gaveUp).toBe(0);
    console.info('outages', { summary, reconnects: source.stats.reconnects, catchUp: source.stats.catchUp, restRequests: source.stats.rest.requests, restWeight: source.stats.rest.weight });
  });

  it('catches up across stream() restarts (the runner restarts it when symbols move)', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const tradesSince = (ms: number) => SYMBOLS.reduce((n, s) => n + server.trades(binanceName(s), ms, Date.now() + 1).length, 0);
    await expectRestartCaughtUp(source, () => run(source), tradesSince, (observations) => expectDelivered(server, observations));
  });

  it('terminates a stalled connection after the stale timeout, reconnects and fills the silence', async () => {
    const server = await startFake();
    const source = sourceFor(server, { staleMs: 1000 });
    const r = run(source);
    // Silence is counted from the last frame or ping (pings every 300 ms), detection runs every 250 ms.
    const recoveredMs = await expectStallRecovered(r, source.stats, () => server.controls.stall(), () => expectDelivered(server, () => r.observations), { staleMs: 1000, quietMs: 300 });
    console.info('stall', { recoveredMs, reconnects: source.stats.reconnects, catchUp: source.stats.catchUp });
  });

  it('reconnects at once on serverShutdown and before the connection age limit, once the connection was healthy', async () => {
    const server = await startFake();
    // A connection counts as healthy (planned reconnects skip the backoff) after 5 s live; a young one backs
    // off even when the server asked for the reconnect. The watchdog is slack so a starved test process does not cut it.
    const source = sourceFor(server, { maxConnectionMs: 12_000, staleMs: 15_000 });
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    const liveBy = Date.now();
    await until(() => Date.now() - liveBy > 5_500);
    expect(server.controls.serverShutdown()).toBe(1);
    await until(() => source.stats.shutdownNotices === 1 && source.stats.reconnects.some((x) => x.reason === 'shutdown'));
    await until(() => source.stats.reconnects.some((x) => x.reason === 'max-age'), 60_000);
    await expectDelivered(server, () => r.observations);
    await r.stop();
    console.info('planned reconnects', source.stats.reconnects);
    // No backoff for a planned reconnect: what the loop chose to wait, not the wall clock (a busy machine stretches that).
    const planned = source.stats.reconnects.filter((x) => x.reason === 'shutdown' || x.reason === 'max-age');
    expect(planned.slice(0, 2).map((x) => [x.reason, x.backoffMs])).toEqual([['shutdown', 0], ['max-age', 0]]);
  });

  it('rejects malformed frames with their reasons while valid trades keep flowing on the same connection', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    const reasons = await expectMalformedRejected(r, source.stats, server.controls, { injected: 8, rejected: 8 }, () => expectDelivered(server, () => r.observations));
    expect(reasons).toEqual(['future_timestamp', 'invalid_price', 'invalid_price', 'invalid_size', 'malformed', 'malformed', 'oversized', 'unknown_symbol']);
    expect(r.rejections.find((x) => x.reason === 'unknown_symbol')?.symbol).toBe('XRP/USDT');
  });

  it('waits out a 429 Retry-After before asking again, then succeeds (history)', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const { trades, from, to } = await historyAfter429(source, server, 'BTC/USDT', 1000);
    expect(server.stats.banned).toBe(0);
    expect(trades.map((t) => Number(t.tradeId))).toEqual(server.trades('BTCUSDT', from, to).map((t) => t.id));
    console.info('429', { requests: server.stats.requests });
  });

  it('catch-up after an outage also honours a 429 and still leaves no hole', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    // Retry-After, then the catch-up: the outage's trades arrive.
    await expectOutageCaughtUpAfter429(r, source.stats, server.controls, () => expectDelivered(server, () => r.observations), () => {
      const inOutage = SYMBOLS.map((symbol) => server.controls.tradeNow(binanceName(symbol)));
      return () => inOutage.every((t) => seen(r.observations, t));
    });
    expect(server.stats.banned).toBe(0);
  });

  it('history() pages exactly the fake\'s trades of a window', async () => {
    const server = await startFake({ tradesPerSecond: 5 });
    const source = sourceFor(server);
    const observation = (t: FakeTrade) => ({ symbol: 'ETH/USDT', ts: new Date(t.time).toISOString(), price: t.price, size: t.qty, tradeId: String(t.id) });
    const { to } = await expectHistoryWindow(source, 'ETH/USDT', (from, to) => server.trades('ETHUSDT', from, to), observation);
    await expectEmptyHistory(source, 'ETH/USDT', to);
  });

  it('candles computed from collected trades equal the fake\'s klines for closed minutes', async () => {
    const server = await startFake({ tradesPerSecond: 5 });
    const source = sourceFor(server);
    const minute = Math.floor(Date.now() / 60_000);
    const from = (minute - 3) * 60_000;
    const to = minute * 60_000; // the current minute is still open: left out
    const trades: Observation[] = [];
    for await (const page of source.history({ symbol: 'BTC/USDT', from: new Date(from), to: new Date(to) })) trades.push(...page);

    const computed = new Map<number, { o: string; h: bigint; l: bigint; c: string; v: bigint; n: number }>();
    for (const t of [...trades].sort((a, b) => Number(a.tradeId) - Number(b.tradeId))) {
      const open = Math.floor(Date.parse(t.ts) / 60_000) * 60_000;
      const price = toE8(t.price);
      const candle = computed.get(open);
      if (!candle) computed.set(open, { o: t.price, h: price, l: price, c: t.price, v: toE8(t.size), n: 1 });
      else {
        if (price > candle.h) candle.h = price;
        if (price < candle.l) candle.l = price;
        candle.c = t.price;
        candle.v += toE8(t.size);
        candle.n++;
      }
    }
    const response = await fetch(`${server.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${from}&endTime=${to - 1}`);
    const rows = (await response.json()) as [number, string, string, string, string, string, number, string, number, string, string, string][];
    expect(rows.length).toBe(3);
    for (const [open, o, h, l, c, v, close, , n] of rows) {
      const candle = computed.get(open);
      expect(candle, new Date(open).toISOString()).toBeDefined();
      expect(close).toBe(open + 59_999);
      expect({ o, h: toE8(h), l: toE8(l), c, v: toE8(v), n }).toEqual(candle);
    }
  });

  it('owes a pending catch-up: owedSince holds the last delivered time before the gap until it is filled', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    // Nothing owed once the opening catch-up is done.
    await until(() => source.stats.liveTrades > 20 && SYMBOLS.every((s) => source.owedSince!(s) === undefined));
    expect(source.owedSince!('BTC/USDT')).toBeUndefined();
    server.controls.force429({ retryAfterSeconds: 3, count: 1 });
    const withheldAt = Date.now();
    server.controls.withhold(600);
    // A BTC trade inside the window, whatever the random tape holds there.
    const withheld = server.controls.tradeNow('BTCUSDT');
    // The first live trade after the withheld ones opens a gap; its REST catch-up waits out the 429.
    await eventually(() => source.owedSince!('BTC/USDT') !== undefined, 'gap owed', 5000, 20);
    expect(source.owedSince!('BTC/USDT')!).toBeLessThanOrEqual(withheldAt + 50);
    await eventually(() => source.owedSince!('BTC/USDT') === undefined && source.owedSince!('ETH/USDT') === undefined && seen(r.observations, withheld), 'gap filled', 15_000, 50);
    await expectDelivered(server, () => r.observations);
    await r.stop();
  });

  it('bars() pages the fake\'s closed 1m klines of a window, oldest first, exactly as sent', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const to = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const from = new Date(to.getTime() - 12 * 60_000);
    const bars = [];
    for await (const page of source.bars!({ symbol: 'ETH/USDT', from, to })) bars.push(...page);
    const response = await fetch(`${server.restUrl}/api/v3/klines?symbol=ETHUSDT&interval=1m&startTime=${from.getTime()}&endTime=${to.getTime() - 1}&limit=1000`);
    const klines = (await response.json()) as [number, string, string, string, string, string, number, string, number][];
    expect(bars.map((b) => [Date.parse(b.openTime), b.open, b.high, b.low, b.close, b.volume, b.tradeCount])).toEqual(
      klines.map((k) => [k[0], k[1], k[2], k[3], k[4], k[5], k[8]]),
    );
    expect(bars).toHaveLength(12);
  });
});

/** A decimal string as an integer count of 1e-8 (exact, no float). */
function toE8(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  return BigInt(whole) * 100_000_000n + BigInt(fraction.padEnd(8, '0').slice(0, 8));
}

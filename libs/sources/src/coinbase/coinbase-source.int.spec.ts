import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startFakeCoinbase, type FakeCoinbase, type FakeCoinbaseOptions, type FakeCoinbaseTrade } from '@tickvault/fake-feeds';
import { expectDelivered as expectTapeDelivered, expectEmptyHistory, expectHistoryWindow, expectMalformedRejected, expectOutageCaughtUpAfter429, expectRestartCaughtUp, expectStallRecovered, harness, historyAfter429, micros, repeatOutages, until, type TradeTape } from '../kit/testing.js';
import type { Observation, SourceBar } from '../source.js';
import { createCoinbaseSource, type CoinbaseSourceOptions } from './coinbase-source.js';

/**
 * The coinbase source against the fake Coinbase (tools/fake-feeds): real sockets, real HTTP,
 * Coinbase's wire formats, faults on demand. No Redis or Postgres: `stream(ctx)` runs with a
 * collecting context.
 */

const SYMBOLS = ['BTC/USD', 'ETH/USD'];
const FAST: Partial<CoinbaseSourceOptions> = { staleMs: 1500, initialBackoffMs: 100, maxBackoffMs: 1000, batchMs: 20, heartbeatGraceMs: 300 };

const { startFake, sourceFor, run } = harness({
  symbols: SYMBOLS,
  startFake: (options: FakeCoinbaseOptions) => startFakeCoinbase({ seed: 7, products: ['BTC-USD', 'ETH-USD'], tradesPerSecond: 20, historyMs: 15 * 60_000, heartbeatIntervalMs: 200, ...options }),
  source: (server: FakeCoinbase, overrides: Partial<CoinbaseSourceOptions>) =>
    createCoinbaseSource({ assetClass: 'crypto', seed: 0, settings: { coinbase: { wsUrl: server.wsUrl, restUrl: server.restUrl } } }, { ...FAST, ...overrides }),
});

const productOf = (symbol: string) => symbol.replace('/', '-');
const observationOf = (symbol: string, t: { time: string; price: string; size: string; tradeId: number }): Observation => ({
  symbol, ts: t.time, price: t.price, size: t.size, tradeId: String(t.tradeId),
});

/**
 * The fake's trades from the first emitted one (or `fromMs`) to the last, as the source must emit
 * them. Microseconds: two trades can share a millisecond, and only one of them may be inside the window.
 */
const tapeOf = (server: FakeCoinbase, fromMs?: number): TradeTape<FakeCoinbaseTrade> => ({
  expected(symbol, mine) {
    const times = mine.map((o) => micros(o.ts));
    const [firstUs, lastUs] = [fromMs === undefined ? Math.min(...times) : fromMs * 1000, Math.max(...times)];
    return server
      .trades(productOf(symbol), Math.floor(firstUs / 1000), Math.floor(lastUs / 1000) + 1)
      .filter((t) => t.timeUs >= firstUs && t.timeUs <= lastUs);
  },
  id: (t) => t.tradeId,
  observation: observationOf,
});

/** Waits until every trade up to now arrived without a hole (see kit/testing expectDelivered). */
const expectDelivered = (server: FakeCoinbase, observations: () => readonly Observation[], symbols: readonly string[] = SYMBOLS, fromMs?: number) =>
  expectTapeDelivered(tapeOf(server, fromMs), observations, symbols);

describe('coinbase source against the fake Coinbase', () => {
  it('streams every trade of every product, exactly as sent, starting with last_match', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.heartbeats > 10 && source.stats.liveTrades > 10, 5000);
    const summary = await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(r.rejections).toEqual([]);
    expect(source.stats.connections).toBe(1);
    expect(source.stats.lastMatches).toBe(2);
    // Nothing missed on the way: only the opening gap of each product (trades from the ask to last_match).
    expect(source.stats.catchUp.gaps).toBe(2);
    expect(source.stats.catchUp.fromHeartbeat).toBe(0);
    expect(r.observations[0]!.ts).toMatch(/\.\d{6}Z$/); // microseconds kept
    console.info('normal stream', summary);
  });

  it('catches up over REST what heartbeats report but the stream never delivered, without reconnecting', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    const liveBefore = source.stats.liveTrades;
    const skippedAt = Date.now();
    // From now on no match is pushed (so no jump in ids can show); heartbeats keep naming the newest trade id.
    server.controls.skipSequence(1_000_000);
    await until(() => source.stats.catchUp.fromHeartbeat >= 2, 5000);
    await until(() => SYMBOLS.every((symbol) => r.observations.some((o) => o.symbol === symbol && Date.parse(o.ts) >= skippedAt)), 5000);
    expect(source.stats.liveTrades - liveBefore).toBeLessThan(5); // the few pushed before the switch
    const detectedMs = Date.now() - skippedAt;
    // The catch-up has real work done before the feed resumes, however late a busy machine detected the gap.
    await until(() => source.stats.catchUp.trades > 10, 15_000);
    server.controls.reset();
    await until(() => source.stats.liveTrades > liveBefore + 20);
    const summary = await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(source.stats.connections).toBe(1);
    expect(source.stats.catchUp.trades).toBeGreaterThan(10);
    expect(source.stats.catchUp.gaveUp).toBe(0);
    console.info('heartbeat gap', { detectedMs, summary, catchUp: source.stats.catchUp, restRequests: source.stats.rest.requests });
  });

  it('fills a jump in trade ids (skipped matches) on a live connection', async () => {
    const server = await startFake();
    const source = sourceFor(server, { heartbeatGraceMs: 10_000 }); // leave it to the id jump
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    const gapsBefore = source.stats.catchUp.gaps;
    server.controls.skipSequence(8);
    // A product's jump shows with its first match after the skipped ones (trades come at random times).
    await until(() => source.stats.catchUp.gaps >= gapsBefore + 2, 8000);
    await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(source.stats.catchUp.fromHeartbeat).toBe(0);
    expect(source.stats.connections).toBe(1);
  });

  it('owes a pending catch-up: owedSince holds the time before the gap until REST filled it', async () => {
    const server = await startFake();
    const source = sourceFor(server, { heartbeatGraceMs: 10_000 });
    const r = run(source);
    // Nothing owed once the opening catch-up is done.
    await until(() => source.stats.liveTrades > 20 && SYMBOLS.every((s) => source.owedSince!(s) === undefined));
    expect(source.owedSince!(SYMBOLS[0]!)).toBeUndefined();
    const gapsBefore = source.stats.catchUp.gaps;
    server.controls.force429({ retryAfterSeconds: 3, count: 1 });
    const skippedAt = Date.now();
    server.controls.skipSequence(8);
    await until(() => SYMBOLS.some((s) => source.owedSince!(s) !== undefined), 8000);
    for (const s of SYMBOLS) expect(source.owedSince!(s) ?? 0).toBeLessThanOrEqual(skippedAt + 50);
    // Both products' jumps seen (a product trading slowly shows its jump late), then both filled.
    await until(() => source.stats.catchUp.gaps >= gapsBefore + 2, 15_000);
    await until(() => SYMBOLS.every((s) => source.owedSince!(s) === undefined), 15_000);
    await expectDelivered(server, () => r.observations);
    await r.stop();
  });

  it('leaves no hole across repeated outages (REST catch-up after each reconnect)', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await repeatOutages(source.stats, (ms) => server.controls.outage(ms), (i) => until(() => source.stats.reconnects.length > i, 5000));
    const summary = await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(source.stats.reconnects.length).toBeGreaterThanOrEqual(3);
    expect(r.reconnects.length).toBe(source.stats.reconnects.length);
    expect(source.stats.catchUp.trades).toBeGreaterThan(0);
    expect(source.stats.catchUp.gaveUp).toBe(0);
    console.info('outages', { summary, reconnects: source.stats.reconnects, catchUp: source.stats.catchUp, restRequests: source.stats.rest.requests });
  });

  it('catches up across stream() restarts (the runner restarts it when symbols move)', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const tradesSince = (ms: number) => SYMBOLS.reduce((n, s) => n + server.trades(productOf(s), ms, Date.now() + 1).length, 0);
    await expectRestartCaughtUp(source, () => run(source), tradesSince, (observations) => expectDelivered(server, observations));
  });

  it('catches up by time a product whose first connection came late (no trade id to start from)', async () => {
    const server = await startFake();
    server.controls.outage(1200); // the first attempts are refused
    const source = sourceFor(server);
    const askedAt = Date.now();
    const r = run(source);
    await until(() => source.stats.connections >= 1, 5000);
    // Everything since the symbols were asked for, though no connection was up then.
    await expectDelivered(server, () => r.observations, SYMBOLS, askedAt);
    await r.stop();
    expect(source.stats.catchUp.trades).toBeGreaterThan(20);
  });

  it('terminates a stalled connection after the stale timeout, reconnects and fills the silence', async () => {
    const server = await startFake();
    const source = sourceFor(server, { staleMs: 1000 });
    const r = run(source);
    // Silence is counted from the last message (heartbeats every 200 ms), detection runs every 250 ms.
    await expectStallRecovered(r, source.stats, () => server.controls.stall(), () => expectDelivered(server, () => r.observations), { staleMs: 1000, quietMs: 200 });
  });

  it('reconnects after an error message and leaves no hole', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    expect(server.controls.sendError({ message: 'Slow consumer', reason: 'ErrSlowConsume', closeAfterMs: 2000 })).toBe(1);
    await until(() => source.stats.reconnects.some((x) => x.reason === 'error-message'));
    await expectDelivered(server, () => r.observations);
    await r.stop();
    expect(source.stats.errorMessages).toBe(1);
    expect(r.reconnects).toEqual(['error-message']);
  });

  it('rejects a product Coinbase does not list and keeps streaming the others', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source, ['BTC/USD', 'XRP/USD', 'not-a-symbol']);
    await until(() => source.stats.liveTrades > 10);
    await expectDelivered(server, () => r.observations, ['BTC/USD']);
    await r.stop();
    expect(r.rejections.map((x) => [x.symbol, x.reason])).toEqual([['not-a-symbol', 'invalid_symbol'], ['XRP/USD', 'unknown_symbol']]);
    expect(r.rejections[1]!.detail).toMatch(/CRYPTO_SYMBOLS/);
    expect(source.stats.connections).toBe(1);
    expect(r.observations.some((o) => o.symbol !== 'BTC/USD')).toBe(false);
  });

  it('rejects malformed frames with their reasons while valid trades keep flowing on the same connection', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    const reasons = await expectMalformedRejected(r, source.stats, server.controls, { injected: 12, rejected: 11 }, () => expectDelivered(server, () => r.observations));
    expect(reasons).toEqual([
      'future_timestamp', 'invalid_price', 'invalid_price', 'invalid_size', 'invalid_timestamp', 'invalid_trade_id',
      'malformed', 'malformed', 'malformed', 'oversized', 'unknown_symbol',
    ]);
    expect(r.rejections.find((x) => x.reason === 'unknown_symbol')?.symbol).toBe('XRP/USD');
    expect(source.stats.ignored).toBe(1); // the unknown message type: ignored as Coinbase asks, not refused
  });

  it('waits out a 429 Retry-After before asking again, then succeeds (history)', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const { trades, from, to } = await historyAfter429(source, server, 'BTC/USD', 1000);
    expect(trades).toEqual(server.trades('BTC-USD', from, to).map((t) => observationOf('BTC/USD', t)));
  });

  it('catch-up after an outage also honours a 429 and still leaves no hole', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await expectOutageCaughtUpAfter429(r, source.stats, server.controls, () => expectDelivered(server, () => r.observations)); // Retry-After, then the catch-up
    expect(server.stats.rateLimited).toBe(source.stats.rest.rateLimited);
  });

  it("history() pages exactly the fake's trades of a window", async () => {
    const server = await startFake({ tradesPerSecond: 5 });
    const source = sourceFor(server);
    const observation = (t: FakeCoinbaseTrade) => observationOf('ETH/USD', t);
    const { pages, to } = await expectHistoryWindow(source, 'ETH/USD', (from, to) => server.trades('ETH-USD', from, to), observation);
    // The trades endpoint has no time parameter: the start is found by id in a few requests, not by paging back.
    expect(source.stats.rest.requests).toBeLessThan(pages.length + 12);
    await expectEmptyHistory(source, 'ETH/USD', to);
  });

  it('history() pages through trades whose trade_id Coinbase sent as a JSON string', async () => {
    const server = await startFake({ tradesPerSecond: 5, tradeIdAsString: true });
    const source = sourceFor(server, { pageLimit: 500 });
    const to = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const from = to - 5 * 60_000;
    const pages: (readonly Observation[])[] = [];
    for await (const page of source.history({ symbol: 'BTC/USD', from: new Date(from), to: new Date(to) })) pages.push(page);
    const expected = server.trades('BTC-USD', from, to);
    expect(expected.length).toBeGreaterThan(1000);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages.flat()).toEqual(expected.map((t) => observationOf('BTC/USD', t)));
  });

  it("1m candles built from delivered trades equal the fake's candles and bars() for closed minutes", async () => {
    const server = await startFake({ tradesPerSecond: 5 });
    const source = sourceFor(server);
    // bars() leaves out a minute until 5 s after it ended: keep the three minutes settled.
    if (Date.now() % 60_000 < 6_000) await sleep(6_000 - (Date.now() % 60_000));
    const minute = Math.floor(Date.now() / 60_000);
    const from = (minute - 3) * 60_000;
    const to = minute * 60_000; // the current minute is still open: left out
    const trades: Observation[] = [];
    for await (const page of source.history({ symbol: 'BTC/USD', from: new Date(from), to: new Date(to) })) trades.push(...page);

    const computed = new Map<number, { o: string; h: bigint; l: bigint; c: string; v: bigint }>();
    for (const t of [...trades].sort((a, b) => Number(a.tradeId) - Number(b.tradeId))) {
      const open = Math.floor(Date.parse(t.ts) / 60_000) * 60_000;
      const price = toE8(t.price);
      const candle = computed.get(open);
      if (!candle) computed.set(open, { o: t.price, h: price, l: price, c: t.price, v: toE8(t.size) });
      else {
        if (price > candle.h) candle.h = price;
        if (price < candle.l) candle.l = price;
        candle.c = t.price;
        candle.v += toE8(t.size);
      }
    }
    expect(computed.size).toBe(3);

    // The fake's own REST candles, numbers read as text (JSON numbers would go through a float).
    const response = await fetch(`${server.restUrl}/products/BTC-USD/candles?granularity=60&start=${new Date(from).toISOString()}&end=${new Date(to - 60_000).toISOString()}`);
    const text = await response.text();
    const rows = [...text.matchAll(/\[(\d+),([^,\]]+),([^,\]]+),([^,\]]+),([^,\]]+),([^,\]]+)\]/g)].map((m) => m.slice(1));
    expect(rows.length).toBe(3);
    for (const [time, low, high, open, close, volume] of rows) {
      const candle = computed.get(Number(time) * 1000);
      expect(candle, new Date(Number(time) * 1000).toISOString()).toBeDefined();
      expect({ o: toE8(open!), h: toE8(high!), l: toE8(low!), c: toE8(close!), v: toE8(volume!) }).toEqual({ ...candle, o: toE8(candle!.o), c: toE8(candle!.c) });
    }

    // bars() serves the same minutes, oldest first, as exact decimal strings.
    const bars: SourceBar[] = [];
    for await (const page of source.bars!({ symbol: 'BTC/USD', from: new Date(from), to: new Date(to) })) bars.push(...page);
    expect(bars.map((b) => b.openTime)).toEqual([0, 1, 2].map((i) => new Date(from + i * 60_000).toISOString().replace('.000Z', 'Z')));
    for (const bar of bars) {
      const candle = computed.get(Date.parse(bar.openTime))!;
      expect({ o: toE8(bar.open), h: toE8(bar.high), l: toE8(bar.low), c: toE8(bar.close), v: toE8(bar.volume), n: bar.tradeCount }).toEqual({
        o: toE8(candle.o), h: candle.h, l: candle.l, c: toE8(candle.c), v: candle.v, n: null,
      });
    }
  });

  it('bars() pages long ranges in requests of at most 300 candles and leaves the running minute out', async () => {
    const server = await startFake({ tradesPerSecond: 1, historyMs: 12 * 3_600_000 });
    const source = sourceFor(server, { requestsPerMinute: 6000 });
    const before = Date.now();
    const from = Math.floor((before - 11 * 3_600_000) / 60_000) * 60_000;
    const to = before + 60_000;
    const bars: SourceBar[] = [];
    for await (const page of source.bars!({ symbol: 'ETH/USD', from: new Date(from), to: new Date(to) })) bars.push(...page);
    const after = Date.now();
    const times = bars.map((b) => Date.parse(b.openTime));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(times.length);
    expect(times[0]).toBe(from);
    // Minutes with trades only (Coinbase sends no row for an empty minute); none still running.
    const lastClosed = (at: number) => Math.floor((at - 5_000) / 60_000) * 60_000 - 60_000;
    expect(Math.max(...times)).toBeLessThanOrEqual(lastClosed(after));
    expect(Math.max(...times)).toBeGreaterThanOrEqual(lastClosed(before) - 5 * 60_000);
    expect(bars.length).toBeGreaterThan(600);
    const requests = (at: number) => Math.ceil((lastClosed(at) + 60_000 - from) / (299 * 60_000));
    expect(server.stats.requests['/products/{id}/candles']).toBeGreaterThanOrEqual(requests(before));
    expect(server.stats.requests['/products/{id}/candles']).toBeLessThanOrEqual(requests(after));
  });
});

/** A decimal string as an integer count of 1e-8 (exact, no float); exponent forms as Coinbase's floats print them. */
function toE8(decimal: string): bigint {
  const m = /^(\d+)(?:\.(\d+))?(?:e-(\d+))?$/.exec(decimal);
  if (!m) throw new Error(`not a decimal: ${decimal}`);
  const [, whole = '0', fraction = '', exponent] = m;
  const value = BigInt(whole) * 100_000_000n + BigInt(fraction.padEnd(8, '0').slice(0, 8));
  return exponent ? value / 10n ** BigInt(exponent) : value;
}

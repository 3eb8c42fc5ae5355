import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@tickvault/testing';
import { startFakeAlpaca, type FakeAlpaca, type FakeAlpacaOptions, type FakeAlpacaTrade } from '@tickvault/fake-feeds';
import { historyAfter429, runStream, until } from '../kit/testing.js';
import type { Observation, SourceBar } from '../source.js';
import { createAlpacaSource, type AlpacaSource, type AlpacaSourceOptions } from './alpaca-source.js';
import { AlpacaAuthError } from './rest.js';

/**
 * The alpaca source against the fake Alpaca (tools/fake-feeds): real sockets, real HTTP, Alpaca's
 * wire formats, faults on demand. Bars last 1 s on both sides so tests need not wait a minute. No
 * Redis or Postgres: `stream(ctx)` runs with a collecting context.
 */

const SYMBOLS = ['AAPL', 'MSFT'];
const BAR_MS = 1000;
const CORRECTION_MS = 400;
/** Late trades of an interval are visible at most this long after their time. */
const LATE_MS = BAR_MS + CORRECTION_MS + 200;

const FAST: Partial<AlpacaSourceOptions> = {
  staleMs: 1500,
  initialBackoffMs: 100,
  maxBackoffMs: 1000,
  authRetryInitialMs: 300,
  authRetryMaxMs: 1200,
  connectionLimitRetryInitialMs: 400,
  connectionLimitRetryMaxMs: 1600,
  batchMs: 20,
  barIntervalMs: BAR_MS,
  catchUpDelayMs: 150,
  clockMarginMs: 200,
};

function startFake(options: FakeAlpacaOptions = {}): Promise<FakeAlpaca> {
  return startFakeAlpaca({
    seed: 7,
    symbols: SYMBOLS,
    tradesPerSecond: 20,
    historyMs: 10 * 60_000,
    barIntervalMs: BAR_MS,
    correctionDelayMs: CORRECTION_MS,
    lateTradeShare: 0.02,
    trailingZeroShare: 0.2,
    ...options,
  });
}

function sourceFor(server: FakeAlpaca, overrides: Partial<AlpacaSourceOptions> = {}, secretKey = server.secretKey): AlpacaSource {
  return createAlpacaSource(
    { assetClass: 'stock', seed: 0, settings: { alpaca: { wsUrl: server.wsUrl, restUrl: server.restUrl, keyId: server.keyId, secretKey } } },
    { ...FAST, ...overrides },
  );
}

const run = (source: AlpacaSource, symbols: readonly string[] = SYMBOLS) => runStream(source, symbols);

/** What the source must emit for a fake trade: the text as sent, microseconds, `<exchange>-<id>`. */
function observationOf(trade: FakeAlpacaTrade): Observation {
  return { symbol: trade.symbol, ts: `${trade.timestamp.slice(0, 26)}Z`, price: trade.price, size: trade.size, tradeId: `${trade.exchange}-${trade.id}` };
}

const keyOf = (o: Observation) => `${o.symbol}|${o.ts}|${o.tradeId}`;

/**
 * Every fake trade of [fromMs, toMs) was emitted at least once, and every emitted trade is one of
 * the fake's, field for field (duplicates allowed: the writer absorbs them).
 */
function expectNoHole(server: FakeAlpaca, observations: readonly Observation[], fromMs: number, toMs: number, symbols: readonly string[] = SYMBOLS) {
  const emitted = new Map(observations.map((o) => [keyOf(o), o]));
  const summary: Record<string, { expected: number; emitted: number }> = {};
  for (const symbol of symbols) {
    const expected = server.trades(symbol, fromMs, toMs).map(observationOf);
    expect(expected.length, `${symbol}: the window has trades`).toBeGreaterThan(0);
    const missing = expected.filter((o) => !emitted.has(keyOf(o))).map(keyOf);
    expect(missing, `${symbol}: trades missing`).toEqual([]);
    const known = new Map(server.trades(symbol, fromMs - 5 * 60_000, Date.now() + 1).map((t) => [keyOf(observationOf(t)), observationOf(t)]));
    const mine = observations.filter((o) => o.symbol === symbol);
    for (const o of mine) expect(known.get(keyOf(o)), `${symbol}: emitted trade is the fake's`).toEqual(o);
    summary[symbol] = { expected: expected.length, emitted: mine.length };
  }
  return summary;
}

/**
 * Waits until the source has delivered everything of [fromMs, toMs): every trade (late reports
 * included: the fake shows them LATE_MS after their time) and, given bars, the final bar of every
 * closed interval. `toMs` is a point the test reached, not a guess at what a sleep covered. Returns
 * the summaries of expectNoHole and expectBarsMatch.
 */
async function expectDelivered(
  server: FakeAlpaca,
  r: { observations: readonly Observation[]; bars?: readonly SourceBar[] },
  fromMs: number,
  toMs: number,
  symbols: readonly string[] = SYMBOLS,
): Promise<{ trades: ReturnType<typeof expectNoHole>; bars: number }> {
  await until(() => Date.now() >= toMs + LATE_MS, toMs + LATE_MS - Date.now() + 5000);
  return eventually(
    () => ({ trades: expectNoHole(server, r.observations, fromMs, toMs, symbols), bars: r.bars ? expectBarsMatch(server, r.bars, fromMs, toMs, symbols) : 0 }),
    `everything of ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()} delivered`,
    15_000,
    50,
  );
}

/** The last bar emitted per (symbol, open time): what the writer keeps, since a later bar replaces an earlier one. */
function finalBars(bars: readonly SourceBar[]): Map<string, SourceBar> {
  const out = new Map<string, SourceBar>();
  for (const bar of bars) out.set(`${bar.symbol}|${bar.openTime}`, bar);
  return out;
}

/** For every closed interval of [fromMs, toMs) with trades, the final emitted bar equals the fake's (all trades visible). */
function expectBarsMatch(server: FakeAlpaca, bars: readonly SourceBar[], fromMs: number, toMs: number, symbols: readonly string[] = SYMBOLS): number {
  const final = finalBars(bars);
  let checked = 0;
  for (const symbol of symbols) {
    const truth = server.bars(symbol, fromMs, toMs);
    expect(truth.length, `${symbol}: the window has bars`).toBeGreaterThan(0);
    for (const b of truth) {
      const got = final.get(`${symbol}|${b.t}`);
      expect(got, `${symbol} ${b.t}`).toEqual({ symbol, openTime: b.t, open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v, tradeCount: b.n });
      checked++;
    }
  }
  return checked;
}

let fake: FakeAlpaca | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await fake?.close();
  fake = undefined;
});

async function fakeWith(options: FakeAlpacaOptions = {}): Promise<FakeAlpaca> {
  fake = await startFake(options);
  return fake;
}

const lastReason = (source: AlpacaSource) => source.stats.reconnects.at(-1)?.reason;

describe('alpaca source against the fake Alpaca', () => {
  it('streams every trade with its decimal text and microseconds, bars equal to the trades, and pings a quiet line', async () => {
    const server = await fakeWith({ lateTradeShare: 0 });
    const source = sourceFor(server);
    const r = run(source);
    // A few bars, pings and padded prices: counts reached, not a sleep that should have held them.
    await until(() => source.stats.liveBars > 2 && server.stats.pings > 2 && r.observations.filter((o) => /\.\d*0$/.test(o.price)).length > 5);
    const { trades: summary, bars } = await expectDelivered(server, r, r.startedAt, Date.now());
    await r.stop();
    expect(r.rejections).toEqual([]);
    expect(source.stats.connections).toBe(1);
    expect(source.stats.reconnects).toEqual([]);
    // Prices keep their text: some end with a zero (126.550) and stay that way.
    const padded = r.observations.filter((o) => /\.\d*0$/.test(o.price));
    expect(padded.length).toBeGreaterThan(5);
    for (const o of r.observations) expect(o.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(new Set(r.observations.map((o) => o.tradeId?.split('-')[0])).size).toBeGreaterThan(1); // several exchanges
    // Only trades executed while the first connection was opening come over REST.
    expect(source.stats.catchUp.trades).toBeLessThan(r.observations.length / 4);
    expect(source.stats.liveBars).toBeGreaterThan(2);
    expect(server.stats.pings).toBeGreaterThan(2); // the client pings: outside market hours nothing else arrives
    console.info('normal stream', { summary, bars, stats: source.stats.catchUp });
  });

  it('leaves no hole across outages, a drop and late trades (REST catch-up of trades and bars)', async () => {
    const server = await fakeWith({ lateTradeShare: 0.05 });
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    const outageTrades: FakeAlpacaTrade[] = [];
    for (let i = 0; i < 2; i++) {
      // Connections dropped, new ones refused and the window's trades and bars never pushed: only REST has them.
      server.controls.outage(700);
      outageTrades.push(...SYMBOLS.map((symbol) => server.controls.tradeNow(symbol)));
      await until(() => source.stats.reconnects.length > i);
    }
    server.controls.dropAll();
    await until(() => source.stats.reconnects.length > 2);
    // The trades made inside the outages came over REST once reconnected.
    await until(() => outageTrades.every((t) => r.observations.some((o) => o.tradeId === `${t.exchange}-${t.id}` && o.symbol === t.symbol)));
    const { trades: summary, bars } = await expectDelivered(server, r, r.startedAt, Date.now());
    await r.stop();
    expect(source.stats.reconnects.length).toBeGreaterThanOrEqual(3);
    expect(r.reconnects.length).toBe(source.stats.reconnects.length);
    expect(source.stats.catchUp.trades).toBeGreaterThan(0);
    expect(source.stats.catchUp.bars).toBeGreaterThan(0);
    expect(source.stats.catchUp.gaveUp).toBe(0);
    expect(r.rejections).toEqual([]);
    console.info('outages', { summary, bars, reconnects: source.stats.reconnects, catchUp: source.stats.catchUp, rest: source.stats.rest });
  });

  it('catches up across stream() restarts (the runner restarts it when symbols move)', async () => {
    const server = await fakeWith();
    const source = sourceFor(server);
    const first = run(source);
    await until(() => source.stats.liveTrades > 20);
    await first.stop();
    const tradesBefore = source.stats.catchUp.trades;
    // More than 10 trades executed while no stream ran: what the catch-up must bring.
    const stoppedAt = Date.now();
    await until(() => SYMBOLS.reduce((n, symbol) => n + server.trades(symbol, stoppedAt, Date.now() + 1).length, 0) > 10);
    const second = run(source);
    const liveBefore = source.stats.liveTrades;
    await until(() => source.stats.liveTrades > liveBefore + 20);
    const both = { get observations() { return [...first.observations, ...second.observations]; } };
    await expectDelivered(server, both, first.startedAt, Date.now());
    await second.stop();
    expect(source.stats.catchUp.trades - tradesBefore).toBeGreaterThan(10);
  });

  it('owes what a stop cut short: an outage not caught up yet (the runner saves no progress past it)', async () => {
    const server = await fakeWith({ lateTradeShare: 0 });
    const lookbackMs = 300;
    // REST's lag outlasts the test: the catch-up never starts before the stop, however slow the machine.
    const source = sourceFor(server, { catchUpDelayMs: 60_000, catchUpLookbackMs: lookbackMs });
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    const outageAt = Date.now();
    server.controls.outage(500);
    // A trade inside the outage, whatever the random tape holds there: withheld from the stream.
    const inOutage = server.controls.tradeNow('AAPL');
    await until(() => source.stats.reconnects.length === 1);
    // Live AAPL trades newer than the outage and its lookback: the newest trade alone would not cover the outage.
    await until(() => r.observations.some((o) => o.symbol === 'AAPL' && Date.parse(o.ts) > outageAt + 500 + lookbackMs));
    const emitted = new Set(r.observations.map((o) => o.tradeId));
    const missed = server.trades('AAPL', outageAt, outageAt + 500).filter((t) => !emitted.has(`${t.exchange}-${t.id}`));
    expect(missed).toContainEqual(inOutage);
    // The catch-up waits for REST's lag: the outage is owed while it waits, and still once stopped.
    const newest = Math.max(...r.observations.filter((o) => o.symbol === 'AAPL').map((o) => Date.parse(o.ts)));
    expect(newest - lookbackMs).toBeGreaterThan(missed[0]!.time);
    expect(source.owedSince!('AAPL')).toBeLessThanOrEqual(missed[0]!.time);
    await r.stop();
    expect(source.stats.catchUp.trades).toBe(0);
    expect(source.owedSince!('AAPL')).toBeLessThanOrEqual(missed[0]!.time);
    expect(source.owedSince!('AAPL')).toBeGreaterThan(outageAt - 60_000);
    expect(source.owedSince!('SPY')).toBeUndefined();
  });

  it('terminates a stalled connection (no data, no pong) after the stale timeout, reconnects and fills the silence', async () => {
    const server = await fakeWith();
    const source = sourceFor(server, { staleMs: 1000 });
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    const stalledAt = Date.now();
    expect(server.controls.stall()).toBe(1);
    await until(() => source.stats.reconnects.length >= 1);
    const recoveredMs = Date.now() - stalledAt;
    await expectDelivered(server, { observations: r.observations }, r.startedAt, Date.now());
    await r.stop();
    // At least the stalled one: on a starved machine the in-process fake can leave a new connection silent too.
    expect(source.stats.staleTerminations).toBeGreaterThanOrEqual(1);
    expect(lastReason(source)).toBe('stale');
    // Silence counts from the last frame or pong (pings every 333 ms); checks run every 250 ms. Only the lower
    // bound is checked: a busy machine can only make the cut later.
    expect(recoveredMs).toBeGreaterThanOrEqual(1000 - 400);
  });

  it('rejects malformed frames with their reasons while valid trades keep flowing on the same connection', async () => {
    const server = await fakeWith();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    server.controls.setDuplicates(true);
    expect(server.controls.injectMalformed()).toBe(13);
    const injectedAt = Date.now();
    await until(() => r.rejections.length >= 13 && r.observations.filter((o) => Date.parse(o.ts) > injectedAt).length > 10);
    await expectDelivered(server, { observations: r.observations }, r.startedAt, Date.now()); // duplicates allowed, nothing missing
    await r.stop();
    expect(r.rejections.map((x) => x.reason).sort()).toEqual([
      'future_timestamp', 'invalid_bar', 'invalid_price', 'invalid_price', 'invalid_price', 'invalid_size', 'invalid_timestamp',
      'invalid_trade_id', 'malformed', 'malformed', 'malformed', 'oversized', 'unknown_symbol',
    ]);
    expect(r.rejections.find((x) => x.reason === 'unknown_symbol')?.symbol).toBe('ZZZZ');
    for (const rejection of r.rejections) expect(rejection.sample.length).toBeGreaterThan(0);
    expect(source.stats.connections).toBe(1);
    expect(source.stats.ignoredMessages).toBe(1); // the status message of the mixed frame (the oversized one is refused unread)
    expect(r.observations.filter((o) => Date.parse(o.ts) > injectedAt).length).toBeGreaterThan(10);
    expect(r.observations.length).toBeGreaterThan(new Set(r.observations.map((o) => `${o.ts}|${o.tradeId}`)).size);
  });

  it('ends the bar sequence of a corrected interval with the updatedBars correction', async () => {
    const server = await fakeWith({ lateTradeShare: 0.2 });
    const source = sourceFor(server);
    const r = run(source, ['AAPL']);
    await until(() => r.connectedAt > 0);
    // Intervals opening once the stream was live: their bar at close came over the stream. (One that
    // closed before, and was corrected before, has only its REST bar, complete from the start.)
    const from = Math.ceil(r.connectedAt / BAR_MS) * BAR_MS;
    // Up to an interval with late trades whose correction is due: the fake's record, not a sleep.
    let to = 0;
    await until(() => {
      to = Math.floor((Date.now() - LATE_MS) / BAR_MS) * BAR_MS;
      return server.trades('AAPL', from, to).some((t) => t.late);
    }, 15_000);
    await expectDelivered(server, r, from, to, ['AAPL']); // the late trades themselves were delivered too
    await r.stop();
    expect(source.stats.updatedBars).toBeGreaterThan(0);
    const byOpen = new Map<string, typeof r.bars>();
    for (const bar of r.bars) byOpen.set(bar.openTime, [...(byOpen.get(bar.openTime) ?? []), bar]);
    let corrected = 0;
    for (const truth of server.bars('AAPL', from, to)) {
      const sequence = byOpen.get(truth.t) ?? [];
      const expected = { symbol: 'AAPL', openTime: truth.t, open: truth.o, high: truth.h, low: truth.l, close: truth.c, volume: truth.v, tradeCount: truth.n };
      expect(sequence.at(-1), truth.t).toEqual(expected);
      const late = server.trades('AAPL', truth.openMs, truth.openMs + BAR_MS).filter((t) => t.late);
      if (late.length > 0) {
        // The bar sent at close lacked the late trades; the correction that replaced it has them.
        expect(sequence.length, truth.t).toBeGreaterThanOrEqual(2);
        expect(sequence[0]!.tradeCount).toBe(truth.n - late.length);
        corrected++;
      }
    }
    expect(corrected).toBeGreaterThan(0);
  });

  it('waits out a 429 Retry-After before asking again, then succeeds (history)', async () => {
    const server = await fakeWith();
    const source = sourceFor(server);
    const { trades, from, to } = await historyAfter429(source, server, 'AAPL', 3000);
    expect(trades).toEqual(server.trades('AAPL', from, to).map(observationOf));
  });

  it('catch-up after an outage also honours a 429 and still leaves no hole', async () => {
    const server = await fakeWith();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.liveTrades > 20);
    server.controls.outage(500);
    const inOutage = SYMBOLS.map((symbol) => server.controls.tradeNow(symbol));
    server.controls.force429({ retryAfterSeconds: 1, count: 1 });
    await until(() => source.stats.reconnects.length >= 1 && source.stats.rest.rateLimited >= 1);
    // Retry-After, then the catch-up: the outage's trades arrive.
    await until(() => inOutage.every((t) => r.observations.some((o) => o.symbol === t.symbol && o.tradeId === `${t.exchange}-${t.id}`)));
    await expectDelivered(server, { observations: r.observations }, r.startedAt, Date.now());
    await r.stop();
    expect(source.stats.rest.rateLimited).toBe(1);
    expect(server.stats.rateLimited).toBe(1); // paused: nobody asked again during Retry-After
  });

  it('history() pages exactly the trades of [from, to)', async () => {
    const server = await fakeWith();
    const source = sourceFor(server, { pageLimit: 100 });
    const to = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const from = to - 60_000 + 123;
    const pages: (readonly Observation[])[] = [];
    for await (const page of source.history({ symbol: 'MSFT', from: new Date(from), to: new Date(to) })) pages.push(page);
    const expected = server.trades('MSFT', from, to);
    expect(expected.length).toBeGreaterThan(500);
    expect(pages.length).toBeGreaterThanOrEqual(5);
    expect(pages.flat()).toEqual(expected.map(observationOf));
    const none: Observation[] = [];
    for await (const page of source.history({ symbol: 'MSFT', from: new Date(to), to: new Date(to) })) none.push(...page);
    expect(none).toEqual([]);
  });

  it('bars() pages with page_token, oldest first, with the decimal text of the trades', async () => {
    const server = await fakeWith({ lateTradeShare: 0.05 });
    const source = sourceFor(server, { pageLimit: 10 });
    const to = Math.floor(Date.now() / BAR_MS) * BAR_MS - 5 * BAR_MS;
    const from = to - 60 * BAR_MS;
    const pages: (readonly SourceBar[])[] = [];
    for await (const page of source.bars!({ symbol: 'AAPL', from: new Date(from), to: new Date(to) })) pages.push(page);
    const truth = server.bars('AAPL', from, to);
    expect(truth.length).toBeGreaterThan(50);
    expect(pages.length).toBe(Math.ceil(truth.length / 10));
    expect(server.stats.requests['/v2/stocks/bars']).toBe(pages.length);
    expect(pages.flat()).toEqual(truth.map((b) => ({ symbol: 'AAPL', openTime: b.t, open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v, tradeCount: b.n })));
  });

  it('stays connected without data outside market hours (the fake closed): pongs keep the watchdog quiet', async () => {
    const server = await fakeWith({ isOpen: () => false });
    const source = sourceFor(server, { staleMs: 600 });
    const r = run(source);
    await sleep(2500); // quiet for four stale timeouts
    await until(() => server.stats.pings >= 5);
    await r.stop();
    expect(r.observations).toEqual([]);
    expect(source.stats.connections).toBe(1);
    expect(source.stats.staleTerminations).toBe(0);
    expect(server.stats.pings).toBeGreaterThanOrEqual(5);
  });
});

describe('alpaca source: keys, connection and symbol limits', () => {
  it('a wrong secret: no data, a clear error without the secret, backoff; recovers (no hole) once the key is valid', async () => {
    const server = await fakeWith();
    const wrong = 'wrong-secret-7f3a9c';
    const source = sourceFor(server, {}, wrong);
    const r = run(source);
    await sleep(2500);
    await until(() => server.stats.authAttempts.length >= 2);
    expect(r.observations).toEqual([]);
    expect(r.bars).toEqual([]);
    const attempts = [...server.stats.authAttempts];
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.length).toBeLessThanOrEqual(6); // 300 ms doubling to 1.2 s, not a hammering loop
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(150);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(300);
    expect(source.stats.authFailures).toBe(attempts.length);
    const errors = r.logs.filter((l) => l.level === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]!.msg).toMatch(/ALPACA_KEY_ID.*ALPACA_SECRET_KEY/);
    expect(JSON.stringify(errors[0]!.obj)).toContain('402 auth failed');

    // The key is fixed on Alpaca's side (a rotated secret): the source gets in at its next try.
    server.controls.setCredentials({ secretKey: wrong });
    await until(() => source.stats.liveTrades > 10, 5000);
    // What traded while the key was refused came over REST once in.
    await expectDelivered(server, { observations: r.observations }, r.startedAt, Date.now());
    await r.stop();
    expect(lastReason(source)).toBe('auth-failed');
    const everything = JSON.stringify(r.logs);
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain('fake-secret-key');
  });

  it('REST with a wrong secret fails with an error naming the variables, not the secret', async () => {
    const server = await fakeWith();
    const source = sourceFor(server, {}, 'not-the-secret-123');
    const pages = source.history({ symbol: 'AAPL', from: new Date(Date.now() - 60_000), to: new Date() });
    const error = await (async () => {
      try {
        for await (const _ of pages) void _;
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(AlpacaAuthError);
    expect(error!.message).toMatch(/401.*ALPACA_KEY_ID.*ALPACA_SECRET_KEY/);
    expect(error!.message).not.toContain('not-the-secret-123');
  });

  it('406 connection limit (another connection holds the key): backs off long, gets in once it is gone', async () => {
    const server = await fakeWith();
    // Someone else's connection with the same key.
    const squatter = new WebSocket(`${server.wsUrl}/iex`);
    cleanups.push(() => squatter.terminate());
    await new Promise((resolve) => squatter.once('open', resolve));
    const squatterIn = new Promise((resolve) => squatter.on('message', (data) => data.toString().includes('authenticated') && resolve(undefined)));
    squatter.send(JSON.stringify({ action: 'auth', key: server.keyId, secret: server.secretKey }));
    await squatterIn;

    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.connectionLimitErrors >= 2, 5000);
    const attempts = server.stats.authAttempts.slice(1); // the squatter's is the first
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(200); // 400 ms initial, with jitter
    expect(r.observations).toEqual([]);
    expect(r.logs.some((l) => l.level === 'error' && /connection limit/.test(l.msg))).toBe(true);
    squatter.close();
    await until(() => source.stats.liveTrades > 10, 5000);
    await expectDelivered(server, { observations: r.observations }, r.startedAt, Date.now());
    await r.stop();
    expect(lastReason(source)).toBe('connection-limit');
    expect(server.stats.errorsSent['406']).toBe(source.stats.connectionLimitErrors);
  });

  it('405 symbol limit: the symbols over it are rejected with a reason and keep their bars; the others stream', async () => {
    const server = await fakeWith({ maxTradeSymbols: 1 });
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.limitedSymbols.length > 0 && r.rejections.length > 0 && r.bars.some((b) => b.symbol === 'MSFT'));
    // An AAPL trade in the window, however quickly the limit showed (the window once held none).
    const made = server.controls.tradeNow('AAPL');
    await expectDelivered(server, { observations: r.observations }, r.startedAt, Math.max(Date.now(), made.time + 1), ['AAPL']);
    await r.stop();
    expect(source.stats.limitedSymbols).toEqual(['MSFT']);
    expect(r.rejections).toHaveLength(1);
    expect(r.rejections[0]).toMatchObject({ symbol: 'MSFT', reason: 'invalid_symbol' });
    expect(r.rejections[0]!.detail).toMatch(/symbol limit exceeded/);
    expect(new Set(r.observations.map((o) => o.symbol))).toEqual(new Set(['AAPL']));
    expect(r.bars.some((b) => b.symbol === 'MSFT')).toBe(true);
    expect(source.stats.connections).toBe(1);
  });
});

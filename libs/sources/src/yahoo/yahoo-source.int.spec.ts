import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startFakeYahoo, type FakeYahoo, type FakeYahooOptions } from '@tickvault/fake-feeds';
import { closedAfterEach, runStream, until } from '../kit/testing.js';
import type { Observation, SourceBar } from '../source.js';
import { createYahooSource, type YahooSource, type YahooSourceOptions } from './yahoo-source.js';

/**
 * The yahoo source against the fake Yahoo (tools/fake-feeds): real HTTP on loopback, Yahoo's chart
 * bodies, faults on demand. `stream(ctx)` runs with a collecting context; the market is "open"
 * (isMarketOpen overridden) so nothing depends on the wall clock.
 */

const SYMBOLS = ['AAPL', 'BRK.B'];
const FAST: Partial<YahooSourceOptions> = {
  pollMs: 250,
  isMarketOpen: () => true,
  initialLookbackMs: 30 * 60_000,
  initialBackoffMs: 100,
  maxBackoffMs: 500,
  timeoutMs: 1000,
  defaultRetryAfterMs: 700,
};

const keep = closedAfterEach();

async function startFake(options: FakeYahooOptions = {}): Promise<FakeYahoo> {
  // More empty minutes and null volumes than the default, so every run has some.
  return keep(await startFakeYahoo({ seed: 11, symbols: ['AAPL', 'BRK-B', 'MSFT'], nullMinuteShare: 0.2, nullVolumeShare: 0.2, ...options }));
}

function sourceFor(server: FakeYahoo, overrides: Partial<YahooSourceOptions> = {}): YahooSource {
  return createYahooSource({ assetClass: 'stock', seed: 0, settings: { yahoo: { chartUrl: server.chartUrl } } }, { ...FAST, ...overrides });
}

const run = (source: YahooSource, symbols: readonly string[] = SYMBOLS) => runStream(source, symbols);

const yahooName = (symbol: string) => symbol.replace('.', '-');
const toBar = (symbol: string, b: { time: number; open: string | null; high: string | null; low: string | null; close: string | null; volume: string | null }): SourceBar => ({
  symbol,
  openTime: new Date(b.time * 1000).toISOString().replace('.000Z', 'Z'),
  open: b.open!,
  high: b.high!,
  low: b.low!,
  close: b.close!,
  volume: b.volume ?? '0',
  tradeCount: null,
});

/**
 * Per symbol: every minute the fake has prices for, from the first emitted minute to `closedBefore`,
 * was emitted, and the last version emitted equals the fake's final bar; nothing else was emitted.
 */
function expectBarsComplete(server: FakeYahoo, bars: readonly SourceBar[], closedBefore: number, symbols: readonly string[] = SYMBOLS) {
  const summary: Record<string, { minutes: number; emitted: number; nullMinutes: number; nullVolumes: number }> = {};
  for (const symbol of symbols) {
    const mine = bars.filter((b) => b.symbol === symbol);
    expect(mine.length, symbol).toBeGreaterThan(0);
    const latest = new Map<string, SourceBar>();
    for (const bar of mine) latest.set(bar.openTime, bar);
    const first = Math.min(...mine.map((b) => Date.parse(b.openTime)));
    const expected = server.bars(yahooName(symbol), first, Math.floor(closedBefore / 60_000) * 60_000);
    const withPrices = expected.filter((b) => b.close !== null);
    for (const b of withPrices) expect(latest.get(toBar(symbol, b).openTime), `${symbol} ${toBar(symbol, b).openTime}`).toEqual(toBar(symbol, b));
    const known = new Set(expected.map((b) => toBar(symbol, b).openTime));
    const nulls = new Set(expected.filter((b) => b.close === null).map((b) => toBar(symbol, b).openTime));
    for (const openTime of latest.keys()) {
      if (Date.parse(openTime) < Math.floor(closedBefore / 60_000) * 60_000) expect(known.has(openTime) && !nulls.has(openTime), `${symbol} ${openTime} emitted`).toBe(true);
    }
    summary[symbol] = { minutes: withPrices.length, emitted: mine.length, nullMinutes: nulls.size, nullVolumes: withPrices.filter((b) => b.volume === null).length };
  }
  return summary;
}

describe('yahoo source against the fake Yahoo', () => {
  it('emits every minute with prices exactly as sent, skips null entries, and the latest price when it moved', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.rounds >= 6);
    const stoppedAt = Date.now();
    await r.stop();
    const summary = expectBarsComplete(server, r.bars, stoppedAt - 1000);
    expect(r.rejections).toEqual([]);
    // 30 minutes back on the first poll, at 20 % empty minutes and null volumes: some of each were served.
    expect(source.stats.nullEntries).toBeGreaterThan(0);
    expect(Object.values(summary).reduce((n, s) => n + s.nullVolumes, 0)).toBeGreaterThan(0);
    expect(r.bars.some((b) => /\.\d{10,}$/.test(b.close))).toBe(true); // float artefacts kept as text
    // The overlap read again unchanged is not sent again.
    expect(r.bars.length).toBe(new Set(r.bars.map((b) => JSON.stringify(b))).size);
    expect(source.stats.barsUnchanged).toBeGreaterThan(0);
    // The latest price: one observation per regularMarketTime the fake served (it moves only when
    // there was a trade since the last poll), with the price text of that trade.
    for (const symbol of SYMBOLS) {
      const served = new Map<number, string>();
      for (const q of server.stats.queries.filter((x) => x.symbol === yahooName(symbol))) {
        const quote = server.quote(yahooName(symbol), q.at);
        served.set(quote.time, quote.price);
      }
      const expected = [...served].map(([time, price]) => ({ symbol, ts: new Date(time * 1000).toISOString(), price, size: '0', tradeId: null }));
      const emitted = r.observations.filter((o) => o.symbol === symbol);
      // The last request may have been cut short by the stop: the fake served it, the source never read it.
      expect([expected, expected.slice(0, -1)]).toContainEqual(emitted);
      expect(emitted.length, symbol).toBeGreaterThanOrEqual(1);
    }
    // Each request asks from the newest minute less the overlap, never a week.
    const later = server.stats.queries.filter((q) => q.symbol === 'AAPL').slice(1);
    expect(later.every((q) => q.period2! - q.period1! <= 10 * 60)).toBe(true);
    expect(server.stats.queries.some((q) => q.symbol === 'BRK-B')).toBe(true);
    console.info('normal polls', { summary, rounds: source.stats.rounds, unchanged: source.stats.barsUnchanged, observations: source.stats.observations });
  });

  it('sends the forming bar again each time it changed, the last version once it closed', async () => {
    // A trade every second and no empty minutes: the running minute changes between any two polls.
    const server = await startFake({ nullMinuteShare: 0, nullVolumeShare: 0, tradeShare: 1 });
    const source = sourceFor(server, { initialLookbackMs: 3 * 60_000 });
    const r = run(source, ['MSFT']);
    // Polls 250 ms apart: nine of them span more than two seconds, so two trades at least.
    await until(() => source.stats.rounds >= 10);
    const stoppedAt = Date.now();
    await r.stop();
    const versions = new Map<string, SourceBar[]>();
    for (const b of r.bars) versions.set(b.openTime, [...(versions.get(b.openTime) ?? []), b]);
    const forming = [...versions.values()].filter((v) => v.length > 1);
    expect(forming.length).toBeGreaterThanOrEqual(1);
    for (const v of forming) {
      // Same minute, same open, growing volume: the bar as it formed.
      expect(new Set(v.map((b) => b.open)).size).toBe(1);
      expect(v.every((b, i) => i === 0 || BigInt(b.volume) > BigInt(v[i - 1]!.volume))).toBe(true);
    }
    expectBarsComplete(server, r.bars, stoppedAt - 1000, ['MSFT']);
  });

  it("leaves out the zero-volume live row Yahoo appends after the session's last bar", async () => {
    // Every body ends with a flat volume-0 row stamped 16:00 New York or the minute after the last
    // row, whichever is later: ahead of every bar the fake has.
    const server = await startFake({ liveRow: true });
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.rounds >= 4);
    const stoppedAt = Date.now();
    await r.stop();
    expect(r.rejections).toEqual([]); // not refused as a future bar either
    expect(r.bars.every((b) => Date.parse(b.openTime) <= stoppedAt), 'no bar stamped after the polls').toBe(true);
    expectBarsComplete(server, r.bars, stoppedAt - 1000);
  });

  it('rejects an unknown symbol once and keeps polling the others; refuses malformed symbols', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source, ['AAPL', 'NOPE', 'btc/usd']);
    await until(() => server.stats.queries.filter((q) => q.symbol === 'AAPL').length >= 5);
    const stoppedAt = Date.now();
    await r.stop();
    expect(r.rejections.map((x) => [x.symbol, x.reason])).toEqual([['btc/usd', 'invalid_symbol'], ['NOPE', 'unknown_symbol']]);
    expect(r.rejections[1]!.detail).toContain('No data found, symbol may be delisted');
    expect(server.stats.queries.filter((q) => q.symbol === 'NOPE')).toHaveLength(1);
    expect(r.observations.filter((o) => o.symbol === 'AAPL').length).toBeGreaterThanOrEqual(1);
    // How many minutes the lookback holds depends on the fake's empty minutes: compare with its own.
    expect(r.bars.every((b) => b.symbol === 'AAPL')).toBe(true);
    expectBarsComplete(server, r.bars, stoppedAt - 1000, ['AAPL']);
  });

  it('retries failed polls with backoff through 503s, refused connections and a stall, then reads on with no hole', async () => {
    const server = await startFake();
    const source = sourceFor(server, { timeoutMs: 500 });
    const r = run(source);
    await until(() => source.stats.rounds >= 3);
    await server.controls.outage(1200);
    await until(() => r.reconnects.length >= 1);
    await server.controls.outage(1000, { mode: 'refuse' });
    await until(() => r.reconnects.length >= 2);
    server.controls.stall();
    await until(() => r.reconnects.length >= 3);
    await until(() => source.stats.rounds >= source.stats.failedRounds + 6);
    const stoppedAt = Date.now();
    await r.stop();
    expect(r.reconnects).toHaveLength(3);
    expect(r.reconnects[0]).toMatch(/503/);
    expect(r.reconnects[1]).toMatch(/unreachable/i);
    expect(r.reconnects[2]).toMatch(/no complete answer in 500 ms/);
    expect(source.stats.reconnects.every((x) => x.downMs > 0)).toBe(true);
    // Backoff, not hammering: one request per failed round, the rounds spaced out.
    const failed = server.stats.queries.filter((q) => q.status === 503);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.length).toBeLessThanOrEqual(8);
    expect(server.stats.stalled).toBe(1);
    expect(r.rejections).toEqual([]);
    const summary = expectBarsComplete(server, r.bars, stoppedAt - 1000);
    console.info('outages', { summary, reconnects: source.stats.reconnects, failedRounds: source.stats.failedRounds, requests: source.stats.client.requests });
  });

  it('rejects malformed bodies with their reasons while the polls carry on', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source, ['AAPL']);
    await until(() => source.stats.rounds >= 2);
    server.controls.malformed();
    await until(() => server.stats.malformedSent === 6);
    const asked = server.stats.queries.length;
    await until(() => server.stats.queries.length >= asked + 2);
    const stoppedAt = Date.now();
    await r.stop();
    expect(r.rejections.map((x) => x.reason).sort()).toEqual(['future_timestamp', 'invalid_bar', 'invalid_price', 'malformed', 'malformed', 'malformed']);
    for (const rejection of r.rejections) {
      expect(rejection.symbol).toBe('AAPL');
      expect(rejection.sample.length).toBeGreaterThan(0);
    }
    expect(r.observations.every((o) => Date.parse(o.ts) <= Date.now() && !o.price.startsWith('-'))).toBe(true);
    // The bar refused in one body is emitted from the next good one: still no hole.
    expectBarsComplete(server, r.bars, stoppedAt - 1000, ['AAPL']);
  });

  it('honours 429 for every symbol: with Retry-After, and with its own pause without one', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    await until(() => source.stats.rounds >= 2);
    server.controls.force429({ retryAfterSeconds: 1 });
    await until(() => source.stats.client.rateLimited === 1 && server.stats.queries.at(-1)!.status === 200);
    server.controls.force429();
    await until(() => source.stats.client.rateLimited === 2 && server.stats.queries.at(-1)!.status === 200);
    const stoppedAt = Date.now();
    await r.stop();
    const queries = server.stats.queries;
    const limited = queries.map((q, i) => [q, i] as const).filter(([q]) => q.status === 429);
    expect(limited).toHaveLength(2);
    const [[first, i1], [second, i2]] = limited as [[(typeof queries)[number], number], [(typeof queries)[number], number]];
    // Nothing asked, for any symbol, before the pause was over.
    expect(queries[i1 + 1]!.at - first.at).toBeGreaterThanOrEqual(990);
    expect(queries[i2 + 1]!.at - second.at).toBeGreaterThanOrEqual(690);
    expect(r.rejections).toEqual([]);
    expect(r.reconnects).toEqual([]); // waited out inside the poll: not a failure
    expectBarsComplete(server, r.bars, stoppedAt - 1000);
  });

  it('polls rarely outside the session, once more right after the close', async () => {
    const server = await startFake();
    let open = false;
    const source = sourceFor(server, { pollMs: 100, offHoursPollMs: 60_000, isMarketOpen: () => open });
    const r = run(source, ['AAPL']);
    await sleep(700);
    expect(server.stats.queries).toHaveLength(1); // the first poll, then nothing for a minute
    open = true;
    await until(() => server.stats.queries.length >= 4);
    open = false;
    const atClose = server.stats.queries.length;
    await sleep(700);
    await r.stop();
    expect(server.stats.queries.length - atClose).toBeLessThanOrEqual(2); // the one in flight, and one after the close
  });

  it('resumes after a stream restart from where the bars stopped', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const first = run(source, ['MSFT']);
    await until(() => source.stats.rounds >= 2);
    await first.stop();
    const lastMinute = Math.max(...first.bars.map((b) => Date.parse(b.openTime)));
    const asked = server.stats.queries.length;
    await sleep(300);
    const second = run(source, ['MSFT']);
    await until(() => server.stats.queries.length > asked);
    await second.stop();
    expect(server.stats.queries[asked]!.period1).toBe((lastMinute - 2 * 60_000) / 1000);
    expect(second.bars.length).toBeLessThan(first.bars.length); // the overlap, not 30 minutes again
  });

  it('bars() pages a window oldest first, exactly the fake\'s minutes with prices, through a 429', async () => {
    const server = await startFake();
    const source = sourceFor(server, { pageMs: 10 * 60_000 });
    const to = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const from = to - 45 * 60_000 + 17_000; // not a minute start: its minute is before the window
    server.controls.force429({ retryAfterSeconds: 1 });
    const pages: (readonly SourceBar[])[] = [];
    for await (const page of source.bars!({ symbol: 'BRK.B', from: new Date(from), to: new Date(to) })) pages.push(page);
    const expected = server.bars('BRK-B', from, to).filter((b) => b.close !== null).map((b) => toBar('BRK.B', b));
    expect(expected.length).toBeGreaterThan(20);
    expect(pages.flat()).toEqual(expected);
    expect(pages.length).toBeGreaterThanOrEqual(4);
    const queries = server.stats.queries;
    expect(queries).toHaveLength(6); // 5 pages + the 429
    expect(queries.every((q) => q.period2! - q.period1! <= 10 * 60 + 1)).toBe(true);
    expect(queries[1]!.at - queries[0]!.at).toBeGreaterThanOrEqual(990);
    // A window older than Yahoo keeps is cut to what it has, not refused.
    const old: SourceBar[] = [];
    for await (const page of source.bars!({ symbol: 'AAPL', from: new Date(Date.now() - 40 * 86_400_000), to: new Date(Date.now() - 35 * 86_400_000) })) old.push(...page);
    expect(old).toEqual([]);
    // Pages Yahoo refuses as too old (422) are skipped, the rest of the window is still read.
    const day = 86_400_000;
    const reaching = sourceFor(server, { pageMs: 0.75 * day, maxHistoryMs: 40 * day });
    // Half past a minute: page boundaries (0.75 day apart) fall mid-minute, never within a second of a minute start,
    // where the request's whole seconds and this window's milliseconds would disagree about the first minute.
    const start = Math.floor((Date.now() - 32 * day) / 60_000) * 60_000 + 30_000;
    const end = start + 2.5 * day;
    const asked = server.stats.queries.length;
    const partial: SourceBar[] = [];
    for await (const page of reaching.bars!({ symbol: 'AAPL', from: new Date(start), to: new Date(end) })) partial.push(...page);
    expect(server.stats.queries.slice(asked).map((q) => q.status)).toEqual([422, 422, 422, 200]);
    const lastPage = server.bars('AAPL', start + 3 * 0.75 * day, end).filter((b) => b.close !== null).map((b) => toBar('AAPL', b));
    expect(lastPage.length).toBeGreaterThan(200);
    expect(partial).toEqual(lastPage);
    // Nothing to replay from history(): the bars are the replay.
    const history: Observation[] = [];
    for await (const page of source.history({ symbol: 'AAPL', from: new Date(from), to: new Date(to) })) history.push(...page);
    expect(history).toEqual([]);
    await expect(async () => {
      for await (const _ of source.bars!({ symbol: 'NOPE', from: new Date(from), to: new Date(to) })) void _;
    }).rejects.toThrow(/Not Found/);
  });

  it('throws at creation on settings that cannot work, naming the variable', () => {
    expect(() => createYahooSource({ assetClass: 'stock', seed: 0, settings: { yahoo: { chartUrl: 'not a url' } } })).toThrow(/YAHOO_CHART_URL/);
    expect(() => createYahooSource({ assetClass: 'stock', seed: 0, settings: { yahoo: { pollSeconds: 0 } } })).toThrow(/YAHOO_POLL_SECONDS/);
    expect(() => createYahooSource({ assetClass: 'stock', seed: 0, settings: { yahoo: { requestsPerMinute: -1 } } })).toThrow(/^the Yahoo request budget per minute must be a positive number \(got -1\)$/); // not configurable: no variable named
  });
});

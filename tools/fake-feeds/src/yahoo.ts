import type http from 'node:http';
import { stockLevel } from './market.js';
import { hashSeed, mulberry32 } from './random.js';
import { FeedServer, pollFaults, type ListenOptions, type PollFaults } from './scaffold.js';

/**
 * A local Yahoo Finance chart server (`/v8/finance/chart/{symbol}`) for tests and demos. Yahoo's
 * chart API is undocumented; the shapes here follow recorded responses (yahoo-finance2's fixtures,
 * yfinance issues): `{"chart":{"result":[{meta,timestamp,indicators:{quote:[{open,high,low,close,volume}]}}],"error":null}}`,
 * prices as JSON numbers with float32 artefacts (`189.83999633789062`), null entries for minutes
 * without trades, and `{"chart":{"result":null,"error":{code,description}}}` bodies for errors.
 *
 * Trades are a pure function of (seed, symbol, second): a second has a trade or not, its price and
 * size follow from the hash. A minute's bar folds the trades of its seconds up to now, so the bar
 * of the current minute is still forming and changes between polls, as Yahoo's does. Minutes run
 * around the clock (no session), so tests do not depend on the wall clock.
 */

export interface FakeYahooOptions extends ListenOptions {
  /** Yahoo symbols (`AAPL`, `BRK-B`). Default AAPL, MSFT, BRK-B. Anything else is Yahoo's 404. */
  symbols?: readonly string[];
  /** Share of minutes without any trade, served as all-null entries (default 0.08). */
  nullMinuteShare?: number;
  /** Share of minutes whose volume is null while prices are not (default 0.03). */
  nullVolumeShare?: number;
  /** Share of seconds with a trade (default 0.6). */
  tradeShare?: number;
  /**
   * End every 1m body that has a priced minute with Yahoo's "live" quote row: volume 0, open = high =
   * low = close = the last close, stamped at meta.currentTradingPeriod.regular.end (16:00 New York)
   * or the minute after the last row when that is later. Not a bar: clients are to leave it out.
   */
  liveRow?: boolean;
}

/** One entry of the chart arrays as served: prices as the JSON number text, null where Yahoo sends null. */
export interface FakeYahooBar {
  /** Minute start, seconds since the epoch (Yahoo's `timestamp`). */
  time: number;
  open: string | null;
  high: string | null;
  low: string | null;
  close: string | null;
  volume: string | null;
  /** False while the minute is still running (the bar will change). */
  final: boolean;
}

export const YAHOO_MALFORMED_KINDS = [
  /** Cut in the middle of the JSON. */
  'not_json',
  /** An HTML error page with status 200 (what a captive portal or consent page looks like). */
  'html',
  /** `timestamp` and the quote arrays of different lengths. */
  'ragged_arrays',
  /** One bar whose high is below its low. */
  'bad_bar',
  /** meta.regularMarketPrice negative. */
  'bad_price',
  /** meta.regularMarketTime a day ahead. */
  'future_time',
] as const;
export type YahooMalformedKind = (typeof YAHOO_MALFORMED_KINDS)[number];

/** PollFaults' outage answers 503, as Yahoo's edge does; force429 applies to chart requests. */
export interface FakeYahooControls extends PollFaults {
  /** The next chart responses, one per kind, are malformed that way. */
  malformed(kinds?: readonly YahooMalformedKind[]): void;
  reset(): void;
}

export interface FakeYahooQuery {
  /** When the request arrived (ms). */
  at: number;
  symbol: string;
  period1: number | null;
  period2: number | null;
  range: string | null;
  interval: string | null;
  status: number;
}

export interface FakeYahooStats {
  requests: number;
  /** Every chart request with its parameters and the status it got. */
  queries: FakeYahooQuery[];
  rateLimited: number;
  refused: number;
  stalled: number;
  malformedSent: number;
  notFound: number;
}

export interface FakeYahoo {
  /** Base for the adapter's chartUrl setting (`.../v8/finance/chart`). */
  chartUrl: string;
  baseUrl: string;
  port: number;
  controls: FakeYahooControls;
  stats: FakeYahooStats;
  /** The entries Yahoo serves for minutes starting in [fromMs, toMs), as of `asOfMs` (default now). */
  bars(symbol: string, fromMs: number, toMs: number, asOfMs?: number): FakeYahooBar[];
  /** meta.regularMarketTime (seconds) and meta.regularMarketPrice (number text) as of `asOfMs` (default now). */
  quote(symbol: string, asOfMs?: number): { time: number; price: string };
  close(): Promise<void>;
}

const NAMES: Record<string, string> = { AAPL: 'Apple Inc.', MSFT: 'Microsoft Corporation', 'BRK-B': 'Berkshire Hathaway Inc.' };
const DAY_S = 86_400;
// Yahoo keeps 1m bars about 30 days and serves at most about a week of them per request.
const MAX_1M_AGE_S = 30 * DAY_S;
const MAX_1M_SPAN_S = 8 * DAY_S;
const RANGES: Record<string, number> = { '1d': DAY_S, '5d': 5 * DAY_S, '7d': 7 * DAY_S };
const VALID_RANGES = ['1d', '5d', '1mo', '3mo', '6mo', '1y', '2y', '5y', '10y', 'ytd', 'max'];

/** JSON text of a price the way Yahoo prints it: a float32 value written as a double. */
const yahooNumber = (cents: number): number => Math.fround(cents / 100);

class SymbolTape {
  private readonly finals = new Map<number, FakeYahooBar>();

  constructor(
    readonly symbol: string,
    private readonly seed: number,
    private readonly options: Required<Pick<FakeYahooOptions, 'nullMinuteShare' | 'nullVolumeShare' | 'tradeShare'>>,
  ) {}

  private nullMinute(minute: number): boolean {
    return mulberry32(hashSeed(this.seed, this.symbol, minute, 'null'))() < this.options.nullMinuteShare;
  }

  /** The trade of a second, if there is one: price in cents and size in shares. */
  trade(second: number, minuteChecked = false): { cents: number; size: number } | undefined {
    if (!minuteChecked && this.nullMinute(Math.floor(second / 60))) return undefined;
    const rand = mulberry32(hashSeed(this.seed, this.symbol, second));
    if (rand() >= this.options.tradeShare) return undefined;
    // The shared market's level (the fake Alpaca trades the same share there), with a little noise of its own.
    const level = stockLevel(this.symbol, second) * (1 + 0.0006 * (rand() - 0.5));
    return { cents: Math.max(1, Math.round(level * 100)), size: 1 + Math.floor(rand() * 500) };
  }

  /** The minute's entry as of `nowS` (seconds), or undefined when the minute has not begun. */
  bar(minute: number, nowS: number): FakeYahooBar | undefined {
    const cached = this.finals.get(minute);
    if (cached && minute * 60 <= nowS) return cached;
    return this.barAsOf(minute, nowS);
  }

  /** The entry computed from the trades up to `nowS`; final ones are cached. */
  barAsOf(minute: number, nowS: number): FakeYahooBar | undefined {
    const start = minute * 60;
    if (start > nowS) return undefined;
    const final = start + 59 < nowS;
    let open: number | undefined;
    let high = -Infinity;
    let low = Infinity;
    let close = 0;
    let volume = 0;
    const empty = this.nullMinute(minute);
    for (let s = start; !empty && s <= Math.min(start + 59, nowS); s++) {
      const t = this.trade(s, true);
      if (!t) continue;
      const price = yahooNumber(t.cents);
      open ??= price;
      high = Math.max(high, price);
      low = Math.min(low, price);
      close = price;
      volume += t.size;
    }
    let bar: FakeYahooBar;
    if (open === undefined) bar = { time: start, open: null, high: null, low: null, close: null, volume: null, final };
    else {
      const nullVolume = mulberry32(hashSeed(this.seed, this.symbol, minute, 'volume'))() < this.options.nullVolumeShare;
      bar = {
        time: start,
        open: JSON.stringify(open),
        high: JSON.stringify(high),
        low: JSON.stringify(low),
        close: JSON.stringify(close),
        volume: nullVolume ? null : String(volume),
        final,
      };
    }
    if (final) {
      if (this.finals.size > 200_000) this.finals.clear();
      this.finals.set(minute, bar);
    }
    return bar;
  }

  /** The last trade at or before `nowS` (searched back a day; there is always one in practice). */
  lastTrade(nowS: number): { time: number; price: number } {
    for (let s = nowS; s > nowS - DAY_S; s--) {
      const t = this.trade(s);
      if (t) return { time: s, price: yahooNumber(t.cents) };
    }
    return { time: nowS - DAY_S, price: yahooNumber(100) };
  }
}

class ChartError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/** New York's UTC offset (seconds) and abbreviation at an instant. */
function newYorkOffset(atMs: number): { gmtoffset: number; timezone: string } {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', timeZoneName: 'shortOffset' })
    .formatToParts(new Date(atMs))
    .find((p) => p.type === 'timeZoneName')?.value;
  const hours = Number(/GMT([+-]\d+)/.exec(name ?? '')?.[1] ?? -5);
  return { gmtoffset: hours * 3600, timezone: hours === -4 ? 'EDT' : 'EST' };
}

export async function startFakeYahoo(options: FakeYahooOptions = {}): Promise<FakeYahoo> {
  const seed = options.seed ?? 42;
  const symbols = [...(options.symbols ?? ['AAPL', 'MSFT', 'BRK-B'])];
  const shares = {
    nullMinuteShare: options.nullMinuteShare ?? 0.08,
    nullVolumeShare: options.nullVolumeShare ?? 0.03,
    tradeShare: options.tradeShare ?? 0.6,
  };
  const tapes = new Map(symbols.map((s) => [s, new SymbolTape(s, seed, shares)]));
  const stats: FakeYahooStats = { requests: 0, queries: [], rateLimited: 0, refused: 0, stalled: 0, malformedSent: 0, notFound: 0 };
  const malformedQueue: YahooMalformedKind[] = [];

  function entries(tape: SymbolTape, period1: number, period2: number, nowS: number): FakeYahooBar[] {
    const out: FakeYahooBar[] = [];
    for (let minute = Math.ceil(period1 / 60); minute * 60 < period2; minute++) {
      const bar = tape.bar(minute, nowS);
      if (!bar) break;
      out.push(bar);
    }
    return out;
  }

  /** Yahoo's meta block; day figures are taken over the served rows (they only need to look real). */
  function meta(tape: SymbolTape, nowMs: number, range: string, rows: readonly FakeYahooBar[]) {
    const nowS = Math.floor(nowMs / 1000);
    const last = tape.lastTrade(nowS);
    const { gmtoffset, timezone } = newYorkOffset(nowMs);
    // Today's New York sessions, in epoch seconds (pre 04:00, regular 09:30-16:00, post to 20:00).
    const localMidnight = Math.floor((nowS + gmtoffset) / DAY_S) * DAY_S - gmtoffset;
    const period = (fromH: number, toH: number) => ({ timezone, start: localMidnight + fromH * 3600, end: localMidnight + toH * 3600, gmtoffset });
    const dayBars = rows.filter((b) => b.high !== null);
    const dayHigh = dayBars.reduce((m, b) => Math.max(m, Number(b.high)), last.price);
    const dayLow = dayBars.reduce((m, b) => Math.min(m, Number(b.low)), last.price);
    const previousClose = tape.lastTrade(localMidnight - 1).price;
    const regular = period(9.5, 16);
    return {
      currency: 'USD',
      symbol: tape.symbol,
      exchangeName: 'NMS',
      fullExchangeName: 'NasdaqGS',
      instrumentType: 'EQUITY',
      firstTradeDate: 345479400,
      regularMarketTime: last.time,
      hasPrePostMarketData: true,
      gmtoffset,
      timezone,
      exchangeTimezoneName: 'America/New_York',
      regularMarketPrice: last.price,
      fiftyTwoWeekHigh: yahooNumber(Math.round(dayHigh * 110)),
      fiftyTwoWeekLow: yahooNumber(Math.round(dayLow * 85)),
      regularMarketDayHigh: dayHigh,
      regularMarketDayLow: dayLow,
      regularMarketVolume: dayBars.reduce((sum, b) => sum + Number(b.volume ?? 0), 0),
      longName: NAMES[tape.symbol] ?? `${tape.symbol} Inc.`,
      shortName: NAMES[tape.symbol] ?? `${tape.symbol} Inc.`,
      chartPreviousClose: previousClose,
      previousClose,
      scale: 3,
      priceHint: 2,
      currentTradingPeriod: { pre: period(4, 9.5), regular, post: period(16, 20) },
      tradingPeriods: [[regular]],
      dataGranularity: '1m',
      range,
      validRanges: VALID_RANGES,
    };
  }

  function chart(path: string, query: URLSearchParams, nowMs: number): { text: string; symbol: string } {
    const symbol = decodeURIComponent(path.slice('/v8/finance/chart/'.length));
    const tape = tapes.get(symbol);
    if (!tape) throw new ChartError(404, 'Not Found', 'No data found, symbol may be delisted');
    const interval = query.get('interval') ?? '1d';
    if (interval !== '1m') {
      throw new ChartError(422, 'Unprocessable Entity', `Invalid input - interval=${interval} is not supported by this fake. Valid intervals: [1m]`);
    }
    const nowS = Math.floor(nowMs / 1000);
    const range = query.get('range');
    let period1: number;
    let period2: number;
    if (query.has('period1') || query.has('period2')) {
      period1 = Number(query.get('period1') ?? 0);
      period2 = query.has('period2') ? Number(query.get('period2')) : nowS;
      if (!Number.isSafeInteger(period1) || !Number.isSafeInteger(period2)) {
        throw new ChartError(400, 'Bad Request', 'Invalid input - period1 and period2 must be integers (seconds)');
      }
      if (period1 > period2) {
        throw new ChartError(400, 'Bad Request', `Invalid input - start date cannot be after end date. startDate = ${period1}, endDate = ${period2}`);
      }
    } else {
      const span = RANGES[range ?? '1d'];
      if (span === undefined) throw new ChartError(422, 'Unprocessable Entity', `Invalid input - range=${range} is not supported for 1m by this fake`);
      period2 = nowS;
      period1 = nowS - span;
    }
    if (period2 - period1 > MAX_1M_SPAN_S) {
      throw new ChartError(422, 'Unprocessable Entity', `1m data not available for startTime=${period1} and endTime=${period2}. Only 7 days worth of 1m granularity data are allowed to be fetched per request.`);
    }
    if (period1 < nowS - MAX_1M_AGE_S) {
      throw new ChartError(422, 'Unprocessable Entity', `1m data not available for startTime=${period1} and endTime=${period2}. The requested range must be within the last 30 days.`);
    }
    const rows = entries(tape, period1, period2, nowS);
    const metaBlock = meta(tape, nowMs, range ?? '', rows);
    const result: Record<string, unknown> = { meta: metaBlock };
    const lastPriced = rows.findLast((r) => r.close !== null);
    if (options.liveRow && lastPriced) {
      const time = Math.max(metaBlock.currentTradingPeriod.regular.end, rows.at(-1)!.time + 60);
      const price = lastPriced.close;
      rows.push({ time, open: price, high: price, low: price, close: price, volume: '0', final: false });
    }
    const num = (text: string | null) => (text === null ? null : Number(text));
    if (rows.length > 0) {
      result.timestamp = rows.map((r) => r.time);
      result.indicators = {
        quote: [{
          low: rows.map((r) => num(r.low)),
          open: rows.map((r) => num(r.open)),
          volume: rows.map((r) => num(r.volume)),
          high: rows.map((r) => num(r.high)),
          close: rows.map((r) => num(r.close)),
        }],
      };
    } else {
      // What Yahoo sends for a window without minutes (a weekend): no timestamp, an empty quote.
      result.indicators = { quote: [{}] };
    }
    return { text: JSON.stringify({ chart: { result: [result], error: null } }), symbol };
  }

  function malform(kind: YahooMalformedKind, text: string): { status: number; type: string; body: string } {
    const json = 'application/json;charset=utf-8';
    const body = JSON.parse(text) as { chart: { result: [{ meta: Record<string, unknown>; timestamp?: number[]; indicators: { quote: [Record<string, unknown[]>] } }] } };
    const result = body.chart.result[0];
    const quote = result.indicators.quote[0];
    switch (kind) {
      case 'not_json':
        return { status: 200, type: json, body: text.slice(0, Math.floor(text.length / 2)) };
      case 'html':
        return { status: 200, type: 'text/html; charset=utf-8', body: '<!DOCTYPE html><html><head><title>Yahoo</title></head><body>Will be right back...</body></html>' };
      case 'ragged_arrays':
        quote.close?.pop();
        break;
      case 'bad_bar': {
        const i = (quote.high ?? []).findIndex((v) => v !== null);
        if (i >= 0 && quote.high && quote.low) [quote.high[i], quote.low[i]] = [Number(quote.low[i]) - 1, Number(quote.high[i]) + 1];
        break;
      }
      case 'bad_price':
        result.meta.regularMarketPrice = -1.5;
        result.meta.regularMarketTime = Math.floor(Date.now() / 1000) + 1; // so it counts as new
        break;
      case 'future_time':
        result.meta.regularMarketTime = Math.floor(Date.now() / 1000) + DAY_S;
        break;
    }
    return { status: 200, type: json, body: JSON.stringify(body) };
  }

  function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'public, max-age=10, stale-while-revalidate=20', ...headers });
    res.end(body);
  }

  function handleRequest(_req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const nowMs = Date.now();
    if (!faults.admit(res)) return;
    const json = 'application/json;charset=utf-8';
    if (!url.pathname.startsWith('/v8/finance/chart/')) {
      return send(res, 404, json, JSON.stringify({ finance: { result: null, error: { code: 'Not Found', description: 'HTTP 404 Not Found' } } }));
    }
    const query: FakeYahooQuery = {
      at: nowMs,
      symbol: decodeURIComponent(url.pathname.slice('/v8/finance/chart/'.length)),
      period1: url.searchParams.has('period1') ? Number(url.searchParams.get('period1')) : null,
      period2: url.searchParams.has('period2') ? Number(url.searchParams.get('period2')) : null,
      range: url.searchParams.get('range'),
      interval: url.searchParams.get('interval'),
      status: 200,
    };
    stats.queries.push(query);
    if (stats.queries.length > 10_000) stats.queries.splice(0, 5_000);
    if (faults.down(nowMs)) {
      query.status = 503;
      return send(res, 503, 'text/html', '<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>');
    }
    const limited = faults.rateLimited();
    if (limited) {
      stats.rateLimited++;
      query.status = 429;
      const headers: Record<string, string> = limited.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(limited.retryAfterSeconds) };
      return send(res, 429, 'text/plain;charset=utf-8', 'Too Many Requests\r\n', headers);
    }
    try {
      const { text } = chart(url.pathname, url.searchParams, nowMs);
      const kind = malformedQueue.shift();
      if (kind) {
        stats.malformedSent++;
        const bad = malform(kind, text);
        return send(res, bad.status, bad.type, bad.body);
      }
      send(res, 200, json, text);
    } catch (error) {
      if (!(error instanceof ChartError)) throw error;
      query.status = error.status;
      if (error.status === 404) stats.notFound++;
      send(res, error.status, json, JSON.stringify({ chart: { result: null, error: { code: error.code, description: error.description } } }));
    }
  }

  const server = new FeedServer(options, handleRequest);
  const faults = pollFaults(server, stats);
  await server.listen();

  const controls: FakeYahooControls = {
    ...faults.switches,
    malformed(kinds = YAHOO_MALFORMED_KINDS) {
      malformedQueue.push(...kinds);
    },
    reset() {
      faults.reset();
      malformedQueue.length = 0;
    },
  };

  const baseUrl = server.url('http');
  const tapeOf = (symbol: string): SymbolTape => {
    const tape = tapes.get(symbol);
    if (!tape) throw new Error(`fake Yahoo has no symbol ${symbol}`);
    return tape;
  };
  return {
    chartUrl: `${baseUrl}/v8/finance/chart`,
    baseUrl,
    port: server.port,
    controls,
    stats,
    bars(symbol, fromMs, toMs, asOfMs = Date.now()) {
      const tape = tapeOf(symbol);
      const asOfS = Math.floor(asOfMs / 1000);
      // Past the cache of final bars: a bar as of an earlier instant is computed afresh.
      const out: FakeYahooBar[] = [];
      for (let minute = Math.ceil(fromMs / 60_000); minute * 60_000 < toMs; minute++) {
        const bar = minute * 60 + 59 < asOfS ? tape.bar(minute, asOfS) : tape.barAsOf(minute, asOfS);
        if (!bar) break;
        out.push(bar);
      }
      return out;
    },
    quote(symbol, asOfMs = Date.now()) {
      const last = tapeOf(symbol).lastTrade(Math.floor(asOfMs / 1000));
      return { time: last.time, price: JSON.stringify(last.price) };
    },
    close: () => server.close(),
  };
}

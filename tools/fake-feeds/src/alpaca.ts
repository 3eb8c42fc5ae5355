import type http from 'node:http';
import { WebSocket } from 'ws';
import { stockLevel } from './market.js';
import { formatE8, hashSeed, mulberry32 } from './random.js';
import { firstIndex } from './sorted.js';
import { FeedServer, MinuteBudget, type StreamFaults, type StreamingFake, type StreamStats, type TapeOptions } from './scaffold.js';

/**
 * A local Alpaca market-data server (stocks) for tests and demos. It speaks Alpaca's wire formats
 * over one HTTP port: the stream at `/v2/{feed}` (welcome, auth with a key and secret, subscribe,
 * JSON-array frames of trades `t`, minute bars `b` and corrected bars `u`, error messages) and the
 * historical API (`GET /v2/stocks/trades`, `/v2/stocks/bars` with page tokens, key headers,
 * X-RateLimit headers and 429). Numbers are JSON numbers, written with their exact text.
 *
 * Trades are a pure function of (seed, symbol, second). A share of them is reported late: their
 * timestamp lies in one bar interval but they become visible (stream and REST) only
 * `correctionDelayMs` after it closed, which is what makes Alpaca send an `updatedBars` correction.
 * Bars are always the aggregation of the trades visible when they are sent, so tests can compute
 * them. The bar interval is a minute like Alpaca's, or shorter so tests need not wait a minute.
 * Markets are open all the time unless `isOpen` says otherwise (pass a check built on the NYSE calendar of @tickvault/schema, isUsEquityMarketOpen, for realism).
 */

export interface FakeAlpacaOptions extends TapeOptions {
  /** Default AAPL, MSFT, SPY. */
  symbols?: readonly string[];
  /** Feeds the key's plan includes (default iex, sip, delayed_sip); others get 409 on the stream, 403 over REST. */
  feeds?: readonly string[];
  /** The valid credentials (default fake-key-id / fake-secret-key); changeable with controls.setCredentials. */
  keyId?: string;
  secretKey?: string;
  /** Bar length (default 60 s, Alpaca's minute bars); shorter for tests. */
  barIntervalMs?: number;
  /** A bar is pushed this long after its interval closed (default 50 ms). */
  barDelayMs?: number;
  /** Late trades become visible, and the corrected bar is pushed, this long after the interval closed (default 30 s). */
  correctionDelayMs?: number;
  /** Share of trades reported late (default 0.01). */
  lateTradeShare?: number;
  /** Share of prices written with a trailing zero (`126.550`), which must survive as written (default 0.1). */
  trailingZeroShare?: number;
  /** Trades plus quotes symbols one connection may subscribe (free plan: 30); beyond, 405. */
  maxTradeSymbols?: number;
  /** Authenticated connections per key (most plans: 1); beyond, 406. */
  maxConnectionsPerKey?: number;
  /** Historical calls per minute per key (free plan: 200). */
  requestsPerMinute?: number;
  /** Unauthenticated connections are closed after this long (Alpaca: 10 s). */
  authTimeoutMs?: number;
  /** How often due messages are pushed (default 20 ms). */
  pushIntervalMs?: number;
  /** Whether the market trades at an instant (default: always, so tests do not depend on the weekday). */
  isOpen?: (at: Date) => boolean;
}

export interface FakeAlpacaTrade {
  symbol: string;
  /** Alpaca's `i`: per exchange (here unique per symbol and day), restarting daily. */
  id: number;
  /** Alpaca's `x`. */
  exchange: string;
  /** RFC 3339 with nanoseconds, as sent. */
  timestamp: string;
  ns: bigint;
  /** ms since the epoch (sub-ms cut). */
  time: number;
  /** When the stream pushes it and REST shows it: the trade time, or later for a late report. */
  visibleAt: number;
  late: boolean;
  /** The JSON number text sent for `p` and `s`. */
  price: string;
  size: string;
  priceE8: bigint;
  sizeE8: bigint;
  conditions: string[];
  tape: string;
}

export interface FakeAlpacaBar {
  symbol: string;
  /** Interval start, `2021-02-22T19:15:00Z`. */
  t: string;
  openMs: number;
  o: string;
  h: string;
  l: string;
  c: string;
  v: string;
  n: number;
  vw: string;
}

export const ALPACA_MALFORMED_KINDS = [
  'not_json',
  'not_array',
  'unknown_type',
  'bad_price',
  'zero_price',
  'negative_size',
  'bad_timestamp',
  'future_timestamp',
  'bad_trade_id',
  'unknown_symbol',
  'bad_bar',
  'oversized',
  /** A bad trade, a status message and a real (already sent) trade in one frame. */
  'mixed',
] as const;
export type AlpacaMalformedKind = (typeof ALPACA_MALFORMED_KINDS)[number];

export interface FakeAlpacaControls extends StreamFaults<AlpacaMalformedKind> {
  /**
   * Executes one trade of `symbol` in the next millisecond and returns it: pushed like any other
   * (not while withheld by an outage), in REST and bars from then on. For a test that needs a trade
   * inside a window.
   */
  tradeNow(symbol: string): FakeAlpacaTrade;
  /** Sends `[{"T":"error","code","msg"}]` on every open connection, closing them if asked; returns how many. */
  sendError(code: number, msg: string, options?: { close?: boolean }): number;
  /** Changes the valid key and/or secret (a key rotated, a plan renewed). */
  setCredentials(credentials: { keyId?: string; secretKey?: string }): void;
  /** Clears faults (withheld windows stay: that data was never pushed). */
  reset(): void;
}

export interface FakeAlpacaStats extends StreamStats {
  authenticated: number;
  authFailures: number;
  /** When each auth message arrived (ms), to check a client's backoff. */
  authAttempts: number[];
  /** Error messages sent on the stream, by code. */
  errorsSent: Record<string, number>;
  pings: number;
  tradeMessages: number;
  barMessages: number;
  updatedBarMessages: number;
  requests: Record<string, number>;
  rateLimited: number;
  unauthorized: number;
}

export interface FakeAlpaca extends StreamingFake<FakeAlpacaControls, FakeAlpacaStats> {
  /** Without the feed: the client appends `/iex` (like Alpaca's `wss://stream.data.alpaca.markets/v2`). */
  wsUrl: string;
  keyId: string;
  secretKey: string;
  /** Trades of a symbol executed in [fromMs, toMs) and visible by `visibleBy` (default now), by time. */
  trades(symbol: string, fromMs: number, toMs: number, visibleBy?: number): FakeAlpacaTrade[];
  /** Bars of closed intervals opening in [fromMs, toMs), aggregated from the trades visible by `asOf` (default now). */
  bars(symbol: string, fromMs: number, toMs: number, asOf?: number): FakeAlpacaBar[];
}

const EXCHANGES = ['V', 'V', 'P', 'Q', 'N', 'K', 'Z'];
const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
const MAX_MESSAGES_PER_FRAME = 1000;
// Above the source's 2 MiB frame limit, so the source has something to refuse.
const OVERSIZED_BYTES = 2 * 1024 * 1024 + 100 * 1024;

/** A JSON number written exactly as given (`126.550` stays `126.550`). */
class Raw {
  constructor(readonly text: string) {}
}

/** JSON text with Raw numbers kept verbatim; undefined members are left out. */
function json(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(json).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${json(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    message: string,
  ) {
    super(message);
  }
}

function nsTimestamp(ns: bigint): string {
  const seconds = ns / NS_PER_S;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${(ns % NS_PER_S).toString().padStart(9, '0')}Z`;
}

/** RFC 3339 (any precision, Z or offset) or a date, to epoch nanoseconds; null when unreadable. */
function parseTime(text: string): bigint | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const ms = Date.parse(`${text}T00:00:00Z`);
    return Number.isNaN(ms) ? null : BigInt(ms) * NS_PER_MS;
  }
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!match) return null;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return null;
  return BigInt(seconds) * NS_PER_MS + BigInt((match[2] ?? '').padEnd(9, '0'));
}

/** A price as Go's float formatting writes it (no trailing zeros), or with a trailing zero when asked. */
function priceText(units: bigint, decimals: number, trailingZero: boolean): string {
  const scale = 10n ** BigInt(decimals);
  let fraction = (units % scale).toString().padStart(decimals, '0').replace(/0+$/, '');
  if (trailingZero) fraction = (units % scale).toString().padStart(decimals, '0').padEnd(3, '0');
  return fraction ? `${units / scale}.${fraction}` : `${units / scale}`;
}

/** Per symbol: every trade from the origin up to the newest generated second, by time (ns). */
class SymbolTape {
  readonly trades: FakeAlpacaTrade[] = [];
  /** The late trades, by visibleAt (non-decreasing with time). */
  readonly late: FakeAlpacaTrade[] = [];
  private nextSecond: number;
  /** Trades added by tradeNow, per second. */
  private readonly added = new Map<number, number>();

  constructor(
    readonly symbol: string,
    private readonly seed: number,
    originSecond: number,
    private readonly config: {
      rate: number;
      barIntervalMs: number;
      correctionDelayMs: number;
      lateTradeShare: number;
      trailingZeroShare: number;
      isOpen: (at: Date) => boolean;
    },
  ) {
    this.nextSecond = originSecond;
  }

  private level(second: number): number {
    return stockLevel(this.symbol, second);
  }

  /** Generates every second up to and including `second` (trades of a second are fixed once made). */
  ensure(second: number): void {
    const { rate, barIntervalMs, correctionDelayMs, lateTradeShare, trailingZeroShare } = this.config;
    for (; this.nextSecond <= second; this.nextSecond++) {
      const s = this.nextSecond;
      if (!this.config.isOpen(new Date(s * 1000))) continue;
      const rand = mulberry32(hashSeed(this.seed, this.symbol, s));
      const count = Math.floor(rand() * (2 * rate + 1));
      const offsets = Array.from({ length: count }, () => Math.floor(rand() * 1e9)).sort((a, b) => a - b);
      const dayStart = Math.floor(s / 86_400) * 86_400;
      let price = this.level(s);
      offsets.forEach((offset, k) => {
        price *= 1 + (rand() - 0.5) * 0.0004;
        const subPenny = rand() < 0.05;
        const trailingZero = rand() < trailingZeroShare;
        const decimals = subPenny ? 4 : 2;
        const units = BigInt(Math.round(price * 10 ** decimals));
        const shares = 1 + Math.floor(rand() * 300);
        const late = rand() < lateTradeShare;
        const exchange = EXCHANGES[Math.floor(rand() * EXCHANGES.length)]!;
        const ns = BigInt(s) * NS_PER_S + BigInt(offset);
        const time = s * 1000 + Math.floor(offset / 1e6);
        const closes = (Math.floor(time / barIntervalMs) + 1) * barIntervalMs;
        const trade: FakeAlpacaTrade = {
          symbol: this.symbol,
          id: (s - dayStart) * 10_000 + k + 1,
          exchange,
          timestamp: nsTimestamp(ns),
          ns,
          time,
          visibleAt: late ? closes + correctionDelayMs : time,
          late,
          price: priceText(units, decimals, trailingZero),
          size: String(shares),
          priceE8: units * 10n ** BigInt(8 - decimals),
          sizeE8: BigInt(shares) * 100_000_000n,
          conditions: shares < 100 ? ['@', 'I'] : ['@'],
          tape: 'C',
        };
        this.trades.push(trade);
        if (late) this.late.push(trade);
      });
    }
  }

  /** Index of the first trade at or after `ns`. */
  indexAtNs(ns: bigint): number {
    return firstIndex(this.trades, (trade) => trade.ns < ns);
  }

  indexAtTime(ms: number): number {
    return this.indexAtNs(BigInt(ms) * NS_PER_MS);
  }

  /** Trades that became visible in (afterMs, untilMs], in the order the stream sends them. */
  becameVisible(afterMs: number, untilMs: number): FakeAlpacaTrade[] {
    const out: FakeAlpacaTrade[] = [];
    for (let i = this.indexAtTime(afterMs + 1), end = this.indexAtTime(untilMs + 1); i < end; i++) {
      const trade = this.trades[i]!;
      if (!trade.late) out.push(trade);
    }
    for (const trade of this.late) {
      if (trade.visibleAt > untilMs) break;
      if (trade.visibleAt > afterMs) out.push(trade);
    }
    return out.sort((a, b) => a.visibleAt - b.visibleAt || (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
  }

  /** The bar of the interval opening at `openMs` from the trades visible by `asOf`; null when it has none. */
  bar(openMs: number, intervalMs: number, asOf: number): FakeAlpacaBar | null {
    let first: FakeAlpacaTrade | undefined;
    let last: FakeAlpacaTrade | undefined;
    let high: FakeAlpacaTrade | undefined;
    let low: FakeAlpacaTrade | undefined;
    let volume = 0n;
    let notional = 0n; // price E8 × shares
    let n = 0;
    for (let i = this.indexAtTime(openMs), end = this.indexAtTime(openMs + intervalMs); i < end; i++) {
      const trade = this.trades[i]!;
      if (trade.visibleAt > asOf) continue;
      first ??= trade;
      last = trade;
      if (!high || trade.priceE8 > high.priceE8) high = trade;
      if (!low || trade.priceE8 < low.priceE8) low = trade;
      const shares = trade.sizeE8 / 100_000_000n;
      volume += shares;
      notional += trade.priceE8 * shares;
      n++;
    }
    if (!first || !last || !high || !low) return null;
    // Volume-weighted price to 6 decimals (a float on Alpaca; only its shape matters here).
    const vw = formatE8((notional / volume / 100n) * 100n).replace(/0{1,2}$/, '');
    return { symbol: this.symbol, t: new Date(openMs).toISOString().replace('.000Z', 'Z'), openMs, o: first.price, h: high.price, l: low.price, c: last.price, v: volume.toString(), n, vw };
  }

  /** Adds a trade executed at `time` (ms, after the trades already visible) at the price of the one before it. */
  insert(time: number): FakeAlpacaTrade {
    const s = Math.floor(time / 1000);
    this.ensure(s);
    const ns = BigInt(time) * NS_PER_MS;
    const at = this.indexAtNs(ns + 1n);
    const before = this.trades[at - 1];
    const dayStart = Math.floor(s / 86_400) * 86_400;
    // Generated ids of a second stay below 2 * rate + 1 past its base; added ones count down from the top.
    const added = (this.added.get(s) ?? 0) + 1;
    this.added.set(s, added);
    const priceE8 = before?.priceE8 ?? BigInt(Math.round(this.level(s) * 100)) * 1_000_000n;
    const trade: FakeAlpacaTrade = {
      symbol: this.symbol,
      id: (s - dayStart) * 10_000 + 10_000 - added,
      exchange: 'V',
      timestamp: nsTimestamp(ns),
      ns,
      time,
      visibleAt: time,
      late: false,
      price: before?.price ?? priceText(priceE8 / 1_000_000n, 2, false),
      size: '100',
      priceE8,
      sizeE8: 100n * 100_000_000n,
      conditions: ['@'],
      tape: 'C',
    };
    this.trades.splice(at, 0, trade);
    return trade;
  }

  hasLate(openMs: number, intervalMs: number): boolean {
    for (let i = this.indexAtTime(openMs), end = this.indexAtTime(openMs + intervalMs); i < end; i++) if (this.trades[i]!.late) return true;
    return false;
  }
}

interface Connection {
  ws: WebSocket;
  feed: string;
  key?: string;
  authenticated: boolean;
  trades: Set<string>;
  quotes: Set<string>;
  bars: Set<string>;
  updatedBars: Set<string>;
  /** Messages due after this instant have not been considered for this connection yet. */
  cursor: number;
  stalled: boolean;
  authTimer?: NodeJS.Timeout;
}

export async function startFakeAlpaca(options: FakeAlpacaOptions = {}): Promise<FakeAlpaca> {
  const seed = options.seed ?? 42;
  const symbols = [...new Set((options.symbols ?? ['AAPL', 'MSFT', 'SPY']).map((s) => s.toUpperCase()))];
  const feeds = new Set(options.feeds ?? ['iex', 'sip', 'delayed_sip']);
  const barIntervalMs = options.barIntervalMs ?? 60_000;
  const barDelayMs = options.barDelayMs ?? 50;
  // A correction always follows its bar.
  const correctionDelayMs = Math.max(options.correctionDelayMs ?? 30_000, barDelayMs + 1);
  const maxTradeSymbols = options.maxTradeSymbols ?? 30;
  const maxConnectionsPerKey = options.maxConnectionsPerKey ?? 1;
  const requestsPerMinute = options.requestsPerMinute ?? 200;
  const startedAt = Date.now();
  const originSecond = Math.floor((startedAt - (options.historyMs ?? 2 * 3_600_000)) / 1000);
  const config = {
    rate: options.tradesPerSecond ?? 5,
    barIntervalMs,
    correctionDelayMs,
    lateTradeShare: options.lateTradeShare ?? 0.01,
    trailingZeroShare: options.trailingZeroShare ?? 0.1,
    isOpen: options.isOpen ?? (() => true),
  };
  const tapes = new Map(symbols.map((s) => [s, new SymbolTape(s, seed, originSecond, config)]));
  // The past is generated now, before the port opens: lazily, the first request would stall every socket.
  for (const symbolTape of tapes.values()) symbolTape.ensure(Math.floor(startedAt / 1000));
  const ensureAll = (now: number) => {
    for (const symbolTape of tapes.values()) symbolTape.ensure(Math.floor(now / 1000));
  };

  let validKey = options.keyId ?? 'fake-key-id';
  let validSecret = options.secretKey ?? 'fake-secret-key';
  const stats: FakeAlpacaStats = {
    connections: 0, open: 0, refused: 0, authenticated: 0, authFailures: 0, authAttempts: [], errorsSent: {}, pings: 0,
    tradeMessages: 0, barMessages: 0, updatedBarMessages: 0, requests: {}, rateLimited: 0, unauthorized: 0,
  };
  const budget = new MinuteBudget();
  const isWithheld = (at: number) => server.withheld.has(at);

  // --- messages -------------------------------------------------------------------------------
  const tradeMessage = (t: FakeAlpacaTrade) => ({ T: 't', i: t.id, S: t.symbol, x: t.exchange, p: new Raw(t.price), s: new Raw(t.size), t: t.timestamp, c: t.conditions, z: t.tape });
  const tradeRow = (t: FakeAlpacaTrade) => ({ t: t.timestamp, x: t.exchange, p: new Raw(t.price), s: new Raw(t.size), c: t.conditions, i: t.id, z: t.tape });
  const barRow = (b: FakeAlpacaBar) => ({ t: b.t, o: new Raw(b.o), h: new Raw(b.h), l: new Raw(b.l), c: new Raw(b.c), v: new Raw(b.v), n: b.n, vw: new Raw(b.vw) });
  const barMessage = (type: 'b' | 'u', b: FakeAlpacaBar) => {
    const { t, o, h, l, c, v, n, vw } = barRow(b);
    return { T: type, S: b.symbol, o, h, l, c, v, t, n, vw };
  };

  const sendFrame = (connection: Connection, messages: unknown[]) => {
    if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(json(messages));
  };
  const sendError = (connection: Connection, code: number, msg: string, close = false) => {
    stats.errorsSent[String(code)] = (stats.errorsSent[String(code)] ?? 0) + 1;
    sendFrame(connection, [{ T: 'error', code, msg }]);
    if (close) setTimeout(() => connection.ws.close(1000), 10).unref();
  };
  const subscriptionMessage = (c: Connection) => ({
    T: 'subscription',
    trades: [...c.trades],
    quotes: [...c.quotes],
    bars: [...c.bars],
    updatedBars: [...c.updatedBars],
    dailyBars: [],
    statuses: [],
    lulds: [],
    corrections: [...c.trades],
    cancelErrors: [...c.trades],
  });

  // --- REST -----------------------------------------------------------------------------------
  interface RangeParams {
    symbols: string[];
    startNs: bigint;
    endNs: bigint;
    limit: number;
    cursor: { symbol: number; position: number } | null;
  }

  function rangeParams(query: URLSearchParams, now: number): RangeParams {
    const list = (query.get('symbols') ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
    if (list.length === 0) throw new ApiError(422, 42210000, 'missing symbols');
    const start = query.get('start');
    const end = query.get('end');
    const startNs = start ? parseTime(start) : BigInt(originSecond) * NS_PER_S;
    const endNs = end ? parseTime(end) : BigInt(now) * NS_PER_MS;
    if (startNs === null) throw new ApiError(422, 42210000, `invalid start: ${start}`);
    if (endNs === null) throw new ApiError(422, 42210000, `invalid end: ${end}`);
    const limitText = query.get('limit');
    const limit = limitText === null ? 1000 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new ApiError(422, 42210000, 'invalid limit: must be between 1 and 10000');
    const feed = query.get('feed') ?? 'sip';
    if (!feeds.has(feed)) throw new ApiError(403, null, `subscription does not permit querying ${feed} data`);
    if ((query.get('sort') ?? 'asc') !== 'asc') throw new ApiError(422, 42210000, 'the fake supports sort=asc only');
    let cursor: RangeParams['cursor'] = null;
    const token = query.get('page_token');
    if (token) {
      const match = /^(\d+):(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
      if (!match) throw new ApiError(422, 42210000, 'invalid page token');
      cursor = { symbol: Number(match[1]), position: Number(match[2]) };
    }
    return { symbols: [...new Set(list)].sort(), startNs, endNs, limit, cursor };
  }

  const pageToken = (symbolIndex: number, position: number) => Buffer.from(`${symbolIndex}:${position}`).toString('base64url');

  /** Sorted by symbol, then time; `limit` counts rows across symbols, as Alpaca's multi-symbol endpoints do. */
  function tradesPage(query: URLSearchParams, now: number): unknown {
    const p = rangeParams(query, now);
    const out: Record<string, unknown[]> = {};
    let count = 0;
    let next: string | null = null;
    outer: for (let si = p.cursor?.symbol ?? 0; si < p.symbols.length; si++) {
      const symbolTape = tapes.get(p.symbols[si]!);
      if (!symbolTape) continue;
      let i = si === p.cursor?.symbol ? p.cursor.position : symbolTape.indexAtNs(p.startNs);
      for (; i < symbolTape.trades.length; i++) {
        const trade = symbolTape.trades[i]!;
        if (trade.ns > p.endNs) break;
        if (trade.visibleAt > now) continue;
        if (count === p.limit) {
          next = pageToken(si, i);
          break outer;
        }
        (out[symbolTape.symbol] ??= []).push(tradeRow(trade));
        count++;
      }
    }
    return { trades: out, next_page_token: next };
  }

  function barsPage(query: URLSearchParams, now: number): unknown {
    const timeframe = query.get('timeframe');
    if (timeframe !== '1Min' && timeframe !== '1T') throw new ApiError(422, 42210000, `invalid timeframe: ${timeframe ?? '(missing)'} (the fake serves 1Min)`);
    const p = rangeParams(query, now);
    const out: Record<string, unknown[]> = {};
    let count = 0;
    let next: string | null = null;
    const endMs = Number(p.endNs / NS_PER_MS);
    outer: for (let si = p.cursor?.symbol ?? 0; si < p.symbols.length; si++) {
      const symbolTape = tapes.get(p.symbols[si]!);
      if (!symbolTape) continue;
      const startMs = Number((p.startNs + NS_PER_MS - 1n) / NS_PER_MS);
      let open = si === p.cursor?.symbol ? p.cursor.position : Math.ceil(startMs / barIntervalMs) * barIntervalMs;
      // Closed intervals only: the one in progress has no bar yet.
      for (; open <= endMs && open + barIntervalMs <= now; open += barIntervalMs) {
        const bar = symbolTape.bar(open, barIntervalMs, now);
        if (!bar) continue;
        if (count === p.limit) {
          next = pageToken(si, open);
          break outer;
        }
        (out[symbolTape.symbol] ??= []).push(barRow(bar));
        count++;
      }
    }
    return { bars: out, next_page_token: next };
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const now = Date.now();
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=UTF-8',
      'X-RateLimit-Limit': String(requestsPerMinute),
      'X-RateLimit-Remaining': String(Math.max(0, requestsPerMinute - budget.used)),
      'X-RateLimit-Reset': String(Math.ceil((Math.floor(now / 60_000) + 1) * 60)),
      ...headers,
    });
    res.end(json(body));
  }

  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const now = Date.now();
    stats.requests[url.pathname] = (stats.requests[url.pathname] ?? 0) + 1;
    if (req.method !== 'GET') return send(res, 405, { message: 'method not allowed' });
    if (req.headers['apca-api-key-id'] !== validKey || req.headers['apca-api-secret-key'] !== validSecret) {
      stats.unauthorized++;
      return send(res, 401, { code: 40110000, message: 'access key verification failed' });
    }
    budget.at(now);
    let retryAfterSeconds = server.forced.take()?.retryAfterSeconds;
    if (retryAfterSeconds === undefined && budget.used >= requestsPerMinute) retryAfterSeconds = MinuteBudget.secondsToNextMinute(now);
    if (retryAfterSeconds !== undefined) {
      stats.rateLimited++;
      return send(res, 429, { code: 42910000, message: 'rate limit exceeded' }, {
        'Retry-After': String(retryAfterSeconds),
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': String(Math.ceil(now / 1000) + retryAfterSeconds),
      });
    }
    budget.used++;
    try {
      ensureAll(now);
      if (url.pathname === '/v2/stocks/trades') return send(res, 200, tradesPage(url.searchParams, now));
      if (url.pathname === '/v2/stocks/bars') return send(res, 200, barsPage(url.searchParams, now));
      throw new ApiError(404, null, 'endpoint not found');
    } catch (error) {
      if (error instanceof ApiError) return send(res, error.status, error.code === null ? { message: error.message } : { code: error.code, message: error.message });
      send(res, 500, { message: `internal server error: ${(error as Error).message}` });
    }
  }

  // --- WebSocket ------------------------------------------------------------------------------
  const feedOf = (url: URL) => /^\/v2\/([a-z_]+)\/?$/.exec(url.pathname)?.[1];
  const server = new FeedServer<Connection>(options, handleRequest, {
    stats,
    // Off: a stalled connection must stop answering pings too.
    autoPong: false,
    serves: (url) => feedOf(url) !== undefined,
    accept(url, ws) {
      const connection: Connection = {
        ws, feed: feedOf(url)!, authenticated: false, trades: new Set(), quotes: new Set(), bars: new Set(), updatedBars: new Set(), cursor: Date.now(), stalled: false,
      };
      ws.on('ping', (data) => {
        stats.pings++;
        if (!connection.stalled) ws.pong(data);
      });
      ws.on('close', () => clearTimeout(connection.authTimer));
      ws.on('message', (data) => handleClient(connection, data.toString()));
      sendFrame(connection, [{ T: 'success', msg: 'connected' }]);
      connection.authTimer = setTimeout(() => {
        if (!connection.authenticated) sendError(connection, 404, 'auth timeout', true);
      }, options.authTimeoutMs ?? 10_000);
      connection.authTimer.unref();
      return connection;
    },
  });
  const { connections } = server;

  function handleClient(connection: Connection, text: string): void {
    if (connection.stalled) return;
    let request: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      request = parsed as Record<string, unknown>;
    } catch {
      return sendError(connection, 400, 'invalid syntax');
    }
    const list = (value: unknown) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string').map((s) => s.toUpperCase()) : []);
    switch (request.action) {
      case 'auth': {
        stats.authAttempts.push(Date.now());
        if (connection.authenticated) return sendError(connection, 403, 'already authenticated');
        if (request.key !== validKey || request.secret !== validSecret) {
          stats.authFailures++;
          return sendError(connection, 402, 'auth failed', true);
        }
        if (!feeds.has(connection.feed)) return sendError(connection, 409, 'insufficient subscription', true);
        const others = [...connections].filter((c) => c !== connection && c.authenticated && c.key === request.key).length;
        if (others >= maxConnectionsPerKey) return sendError(connection, 406, 'connection limit exceeded', true);
        connection.authenticated = true;
        connection.key = validKey;
        connection.cursor = Date.now();
        clearTimeout(connection.authTimer);
        stats.authenticated++;
        return sendFrame(connection, [{ T: 'success', msg: 'authenticated' }]);
      }
      case 'subscribe':
      case 'unsubscribe': {
        if (!connection.authenticated) return sendError(connection, 401, 'not authenticated');
        const adding = request.action === 'subscribe';
        const change = { trades: list(request.trades), quotes: list(request.quotes), bars: list(request.bars), updatedBars: list(request.updatedBars) };
        if (adding) {
          const tradeSymbols = new Set([...connection.trades, ...change.trades]);
          const quoteSymbols = new Set([...connection.quotes, ...change.quotes]);
          if (tradeSymbols.size + quoteSymbols.size > maxTradeSymbols) return sendError(connection, 405, 'symbol limit exceeded');
        }
        for (const channel of ['trades', 'quotes', 'bars', 'updatedBars'] as const) {
          for (const symbol of change[channel]) {
            if (adding) connection[channel].add(symbol);
            else connection[channel].delete(symbol);
          }
        }
        return sendFrame(connection, [subscriptionMessage(connection)]);
      }
      default:
        return sendError(connection, 400, 'invalid syntax');
    }
  }

  server.every(options.pushIntervalMs ?? 20, () => {
    const now = Date.now();
    ensureAll(now);
    for (const connection of server.live()) {
      if (!connection.authenticated) continue;
      const after = connection.cursor;
      connection.cursor = now;
      const messages: unknown[] = [];
      for (const symbol of connection.trades) {
        for (const trade of tapes.get(symbol)?.becameVisible(after, now) ?? []) {
          if (isWithheld(trade.visibleAt)) continue;
          messages.push(tradeMessage(trade));
          stats.tradeMessages++;
        }
      }
      // Bars of intervals whose push time fell in (after, now]; corrections likewise.
      for (let close = (Math.floor((after - barDelayMs) / barIntervalMs) + 1) * barIntervalMs; close + barDelayMs <= now; close += barIntervalMs) {
        if (isWithheld(close + barDelayMs)) continue;
        for (const symbol of connection.bars) {
          const bar = tapes.get(symbol)?.bar(close - barIntervalMs, barIntervalMs, close + barDelayMs);
          if (!bar) continue;
          messages.push(barMessage('b', bar));
          stats.barMessages++;
        }
      }
      for (let close = (Math.floor((after - correctionDelayMs) / barIntervalMs) + 1) * barIntervalMs; close + correctionDelayMs <= now; close += barIntervalMs) {
        if (isWithheld(close + correctionDelayMs)) continue;
        for (const symbol of connection.updatedBars) {
          const symbolTape = tapes.get(symbol);
          if (!symbolTape?.hasLate(close - barIntervalMs, barIntervalMs)) continue;
          const bar = symbolTape.bar(close - barIntervalMs, barIntervalMs, close + correctionDelayMs);
          if (!bar) continue;
          messages.push(barMessage('u', bar));
          stats.updatedBarMessages++;
        }
      }
      for (let i = 0; i < messages.length; i += MAX_MESSAGES_PER_FRAME) {
        server.send(connection, json(messages.slice(i, i + MAX_MESSAGES_PER_FRAME)));
      }
    }
  });

  function malformedFrame(connection: Connection, kind: AlpacaMalformedKind): string {
    const symbol = [...connection.trades][0] ?? [...connection.bars][0] ?? symbols[0] ?? 'AAPL';
    const now = Date.now();
    const stamp = nsTimestamp(BigInt(now) * NS_PER_MS);
    const trade = { T: 't', i: new Raw('1'), S: symbol, x: 'V', p: new Raw('100.5'), s: new Raw('10'), t: stamp, c: ['@'], z: 'C' };
    const open = new Date(Math.floor(now / barIntervalMs) * barIntervalMs).toISOString().replace('.000Z', 'Z');
    switch (kind) {
      case 'not_json':
        return `[{"T":"t","S":"${symbol}","p":`;
      case 'not_array':
        return json(trade);
      case 'unknown_type':
        return json([{ T: 'zz', S: symbol }]);
      case 'bad_price':
        return json([{ ...trade, p: 'abc' }]);
      case 'zero_price':
        return json([{ ...trade, p: new Raw('0') }]);
      case 'negative_size':
        return json([{ ...trade, s: new Raw('-100') }]);
      case 'bad_timestamp':
        return json([{ ...trade, t: 'yesterday' }]);
      case 'future_timestamp':
        return json([{ ...trade, t: nsTimestamp(BigInt(now + 86_400_000) * NS_PER_MS) }]);
      case 'bad_trade_id':
        return json([{ ...trade, i: new Raw('1.5') }]);
      case 'unknown_symbol':
        return json([{ ...trade, S: 'ZZZZ' }]);
      case 'bad_bar':
        return json([{ T: 'b', S: symbol, o: new Raw('100'), h: new Raw('99'), l: new Raw('101'), c: new Raw('100'), v: new Raw('10'), t: open, n: 1, vw: new Raw('100') }]);
      case 'oversized':
        return json([{ T: 's', S: symbol, sc: 'T', sm: 'Trading Resumption', rc: '', rm: 'x'.repeat(OVERSIZED_BYTES), t: stamp, z: 'C' }]);
      case 'mixed': {
        const symbolTape = tapes.get(symbol);
        const sent = symbolTape?.becameVisible(now - 60_000, now).filter((t) => !isWithheld(t.visibleAt)).at(-1);
        return json([
          { ...trade, p: new Raw('-1') },
          { T: 's', S: symbol, sc: 'T', sm: 'Trading Resumption', rc: '', rm: '', t: stamp, z: 'C' },
          ...(sent ? [tradeMessage(sent)] : []),
        ]);
      }
    }
  }

  const controls: FakeAlpacaControls = {
    ...server.streamFaults(),
    tradeNow(symbol) {
      // The next millisecond: the push loop has looked at every trade up to now.
      return tapeOf(symbol).insert(Date.now() + 1);
    },
    injectMalformed(kinds = ALPACA_MALFORMED_KINDS) {
      return server.inject(kinds, malformedFrame, server.live().filter((c) => c.authenticated));
    },
    sendError(code, msg, { close = false } = {}) {
      let n = 0;
      for (const connection of connections) {
        if (connection.ws.readyState !== WebSocket.OPEN) continue;
        sendError(connection, code, msg, close);
        n++;
      }
      return n;
    },
    setCredentials({ keyId, secretKey }) {
      if (keyId !== undefined) validKey = keyId;
      if (secretKey !== undefined) validSecret = secretKey;
    },
    reset() {
      server.resetStream();
    },
  };

  const tapeOf = (symbol: string): SymbolTape => {
    const found = tapes.get(symbol.toUpperCase());
    if (!found) throw new Error(`fake Alpaca has no symbol ${symbol}`);
    return found;
  };

  return server.serve({
    // A getter: the port is known once serve has listened.
    get wsUrl() {
      return `${server.url('ws')}/v2`;
    },
    get keyId() {
      return validKey;
    },
    get secretKey() {
      return validSecret;
    },
    controls,
    stats,
    trades(symbol, fromMs, toMs, visibleBy = Date.now()) {
      const symbolTape = tapeOf(symbol);
      symbolTape.ensure(Math.floor(Date.now() / 1000));
      const out: FakeAlpacaTrade[] = [];
      for (let i = symbolTape.indexAtTime(fromMs), end = symbolTape.indexAtTime(toMs); i < end; i++) {
        const trade = symbolTape.trades[i]!;
        if (trade.visibleAt <= visibleBy) out.push(trade);
      }
      return out;
    },
    bars(symbol, fromMs, toMs, asOf = Date.now()) {
      const symbolTape = tapeOf(symbol);
      symbolTape.ensure(Math.floor(Date.now() / 1000));
      const out: FakeAlpacaBar[] = [];
      for (let open = Math.ceil(fromMs / barIntervalMs) * barIntervalMs; open < toMs && open + barIntervalMs <= asOf; open += barIntervalMs) {
        const bar = symbolTape.bar(open, barIntervalMs, asOf);
        if (bar) out.push(bar);
      }
      return out;
    },
  });
}

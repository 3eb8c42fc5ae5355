import type http from 'node:http';
import { WebSocket } from 'ws';
import { CryptoTape, startTapes, type MarketTrade } from './crypto-tape.js';
import { pairLevel } from './market.js';
import { formatE8, hashSeed, mulberry32, mulE8 } from './random.js';
import { firstIndex } from './sorted.js';
import { FeedServer, MinuteBudget, type StreamFaults, type StreamingFake, type StreamStats, type TapeOptions, type WithholdFault } from './scaffold.js';

/**
 * A local Binance spot market-data server for tests and demos. It speaks Binance's wire formats
 * (combined trade streams, historicalTrades, aggTrades, klines, exchangeInfo, ping, time, weights
 * and error bodies) over one HTTP port, with trades that are a pure function of (seed, symbol,
 * second): ids are numeric, per symbol, and increase by one per trade, like Binance's. A trade's id
 * follows from its time (market.ts), so a restarted fake serves the same trades under the same ids and
 * continues the sequence; prices come from the market every fake shares.
 *
 * Trades exist from `historyMs` before the start onwards, and become visible (stream and REST) when
 * their time has come. Fault switches (`controls`) drop, stall or starve connections, send
 * duplicates, malformed frames and `serverShutdown`, and answer 429/418 like the real API.
 */

export interface FakeBinanceOptions extends TapeOptions {
  /** Binance symbols (`BTCUSDT`), with base and quote for exchangeInfo. Default BTCUSDT, ETHUSDT, SOLUSDT. */
  symbols?: readonly string[];
  /** Server ping frames (Binance: every 20 s). */
  pingIntervalMs?: number;
  /** How often due trades are pushed to connections (default 20 ms). */
  pushIntervalMs?: number;
  /** REQUEST_WEIGHT per minute (Binance: 6000). */
  weightPerMinute?: number;
  /** Requests sent while told to back off, before the IP is "banned" with 418 (default 3). */
  violationsBeforeBan?: number;
  /** Connections are closed after this long (Binance: 24 h). Default: never. */
  maxConnectionMs?: number;
}

export interface FakeTrade {
  symbol: string;
  id: number;
  time: number;
  price: string;
  qty: string;
  quoteQty: string;
  isBuyerMaker: boolean;
  priceE8: bigint;
  qtyE8: bigint;
}

export const MALFORMED_KINDS = [
  'not_json',
  'unknown_event',
  'bad_price',
  'zero_price',
  'negative_size',
  'future_timestamp',
  'oversized',
  'unknown_symbol',
] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

export interface FakeBinanceControls extends StreamFaults<MalformedKind>, WithholdFault {
  /**
   * Executes one trade of `symbol` in the next millisecond and returns it: pushed like any other
   * (not while withheld), in REST and klines from then on; the ids of later trades move up by one.
   * For a test that needs a trade inside a window.
   */
  tradeNow(symbol: string): FakeTrade;
  /** Sends a serverShutdown event on every open connection; closes them after `closeAfterMs` if given. */
  serverShutdown(options?: { closeAfterMs?: number }): number;
  /**
   * Sends `bytes` of garbage frames on every open connection, between its normal trades: text and
   * binary noise, truncated JSON, JSON that is no event, trade-shaped frames with a bad field (64 B to
   * 1 KiB each: many rejections per MB), and every 500th frame oversized (above the 64 KiB a trade
   * client should accept, up to `maxFrameBytes`).
   * Every frame is exactly one thing a client must reject. Paced by the socket's send buffer; resolves
   * once all of it is handed to the socket (or the connection closed).
   */
  sendGarbage(options: { bytes: number; maxFrameBytes?: number }): Promise<GarbageReport>;
  /** Clears all faults (withheld windows stay: those trades were never sent). */
  reset(): void;
}

export interface GarbageReport {
  connections: number;
  frames: number;
  bytes: number;
  ms: number;
}

export interface FakeBinanceStats extends StreamStats {
  pingsSent: number;
  pongs: number;
  tradeFramesSent: number;
  requests: Record<string, number>;
  weightUsed: number;
  rateLimited: number;
  banned: number;
}

export interface FakeBinance extends StreamingFake<FakeBinanceControls, FakeBinanceStats> {
  /** The trades of a symbol (Binance name) executed in [fromMs, toMs) and already visible. */
  trades(symbol: string, fromMs: number, toMs: number): FakeTrade[];
}

const WEIGHTS: Record<string, number> = {
  '/api/v3/ping': 1,
  '/api/v3/time': 1,
  '/api/v3/exchangeInfo': 20,
  '/api/v3/trades': 25,
  '/api/v3/historicalTrades': 25,
  '/api/v3/aggTrades': 4,
  '/api/v3/klines': 2,
};

// A trade event is a few hundred bytes; a client should refuse anything above this unread.
const MAX_TRADE_FRAME_BYTES = 64 * 1024;

const QUOTES = ['FDUSD', 'USDT', 'USDC', 'BUSD', 'TUSD', 'BTC', 'ETH', 'BNB', 'EUR', 'TRY'];

const INTERVALS: Record<string, number> = {
  '1s': 1000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000,
  '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '6h': 21_600_000, '8h': 28_800_000, '12h': 43_200_000, '1d': 86_400_000,
};

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function splitSymbol(symbol: string): { base: string; quote: string } {
  const quote = QUOTES.find((q) => symbol.endsWith(q) && symbol.length > q.length) ?? symbol.slice(-4);
  return { base: symbol.slice(0, -quote.length), quote };
}

/** Per symbol: every trade from the origin up to the newest generated second, in id (and time) order. */
class SymbolTape extends CryptoTape<FakeTrade> {
  /** aggTrades ids are trade ids minus this: the same for every instance with this seed. */
  readonly aggBase: number;
  private readonly pair: { base: string; quote: string };

  constructor(
    readonly symbol: string,
    seed: number,
    originSecond: number,
    rate: number,
  ) {
    super(symbol, seed, originSecond, rate, { offsetsPerSecond: 1000, smallDecimals: 6 });
    this.aggBase = this.counts.idOrigin - 1000;
    this.pair = splitSymbol(symbol);
  }

  protected level(second: number): number {
    return pairLevel(this.pair.base, this.pair.quote, second);
  }

  protected make({ second, offset, id, priceE8, sizeE8 }: MarketTrade, rand: () => number): FakeTrade {
    return {
      symbol: this.symbol,
      id,
      time: second * 1000 + offset,
      price: formatE8(priceE8),
      qty: formatE8(sizeE8),
      quoteQty: formatE8(mulE8(priceE8, sizeE8)),
      isBuyerMaker: rand() < 0.5,
      priceE8,
      qtyE8: sizeE8,
    };
  }

  /**
   * Adds a trade executed at `time` (after the trades already visible) at the price of the one before
   * it. Ids stay one apart: the trades after it, not visible yet, move up by one.
   */
  insert(time: number): FakeTrade {
    this.ensure(Math.floor(time / 1000));
    const at = this.indexAtMs(time + 1);
    const before = this.trades[at - 1]!;
    const qtyE8 = 1_000_000n;
    const trade: FakeTrade = {
      symbol: this.symbol,
      id: this.idBase + at,
      time,
      price: before.price,
      qty: formatE8(qtyE8),
      quoteQty: formatE8(mulE8(before.priceE8, qtyE8)),
      isBuyerMaker: false,
      priceE8: before.priceE8,
      qtyE8,
    };
    this.trades.splice(at, 0, trade);
    for (let i = at + 1; i < this.trades.length; i++) this.trades[i]!.id++;
    return trade;
  }

  indexAtMs(ms: number): number {
    return firstIndex(this.trades, (trade) => trade.time < ms);
  }
}

interface Connection {
  ws: WebSocket;
  combined: boolean;
  streams: Set<string>;
  /** Trades with time > cursor have not been considered for this connection yet. */
  cursor: number;
  stalled: boolean;
}

export async function startFakeBinance(options: FakeBinanceOptions = {}): Promise<FakeBinance> {
  const seed = options.seed ?? 42;
  const symbols = [...(options.symbols ?? ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'])].map((s) => s.toUpperCase());
  const tapes = startTapes(symbols, options, (...args) => new SymbolTape(...args));
  const weightPerMinute = options.weightPerMinute ?? 6000;
  const violationsBeforeBan = options.violationsBeforeBan ?? 3;

  const stats: FakeBinanceStats = {
    connections: 0, open: 0, refused: 0, pingsSent: 0, pongs: 0, tradeFramesSent: 0, requests: {}, weightUsed: 0, rateLimited: 0, banned: 0,
  };
  const weight = new MinuteBudget();
  let backoffUntil = 0;
  let bannedUntil = 0;
  let violations = 0;

  const tape = (symbol: string | null): SymbolTape => {
    if (!symbol) throw new ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    const found = tapes.get(symbol);
    if (!found) throw new ApiError(400, -1121, 'Invalid symbol.');
    return found;
  };

  // --- REST ---------------------------------------------------------------------------------
  const intParam = (query: URLSearchParams, name: string): number | undefined => {
    const raw = query.get(name);
    if (raw === null || raw === '') return undefined;
    if (!/^\d{1,20}$/.test(raw)) throw new ApiError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`);
    return Number(raw);
  };
  const limitParam = (query: URLSearchParams, fallback: number): number => Math.max(1, Math.min(1000, intParam(query, 'limit') ?? fallback));

  const tradeRow = (t: FakeTrade) => ({ id: t.id, price: t.price, qty: t.qty, quoteQty: t.quoteQty, time: t.time, isBuyerMaker: t.isBuyerMaker, isBestMatch: true });
  // One aggregate trade per trade: aggregate ids run on their own number line.
  const aggRow = (t: FakeTrade, base: number) => ({ a: t.id - base, p: t.price, q: t.qty, f: t.id, l: t.id, T: t.time, m: t.isBuyerMaker, M: true });

  function klines(symbolTape: SymbolTape, interval: number, query: URLSearchParams, now: number): unknown[] {
    const limit = limitParam(query, 500);
    const startTime = intParam(query, 'startTime');
    const endTime = intParam(query, 'endTime');
    const visible = symbolTape.visible(now);
    let from = startTime === undefined ? undefined : Math.ceil(startTime / interval) * interval;
    const to = endTime ?? now;
    if (from === undefined) from = Math.max(0, (Math.floor(to / interval) - limit + 1) * interval);
    const rows: unknown[] = [];
    let i = symbolTape.indexAtMs(from);
    while (i < visible && rows.length < limit) {
      const open = Math.floor(symbolTape.trades[i]!.time / interval) * interval;
      if (open > to) break;
      let j = i;
      let high = symbolTape.trades[i]!.priceE8;
      let low = high;
      let volume = 0n;
      let quote = 0n;
      let takerBase = 0n;
      let takerQuote = 0n;
      while (j < visible && symbolTape.trades[j]!.time < open + interval) {
        const t = symbolTape.trades[j]!;
        if (t.priceE8 > high) high = t.priceE8;
        if (t.priceE8 < low) low = t.priceE8;
        const q = mulE8(t.priceE8, t.qtyE8);
        volume += t.qtyE8;
        quote += q;
        if (!t.isBuyerMaker) {
          takerBase += t.qtyE8;
          takerQuote += q;
        }
        j++;
      }
      rows.push([
        open, symbolTape.trades[i]!.price, formatE8(high), formatE8(low), symbolTape.trades[j - 1]!.price, formatE8(volume),
        open + interval - 1, formatE8(quote), j - i, formatE8(takerBase), formatE8(takerQuote), '0',
      ]);
      i = j;
    }
    return rows;
  }

  function route(path: string, query: URLSearchParams, now: number): unknown {
    switch (path) {
      case '/api/v3/ping':
        return {};
      case '/api/v3/time':
        return { serverTime: now };
      case '/api/v3/exchangeInfo': {
        const wanted = query.get('symbol') ? [query.get('symbol')!] : query.get('symbols') ? (JSON.parse(query.get('symbols')!) as string[]) : symbols;
        for (const s of wanted) tape(s);
        return {
          timezone: 'UTC',
          serverTime: now,
          rateLimits: [
            { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: weightPerMinute },
            { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
            { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
          ],
          exchangeFilters: [],
          symbols: wanted.map((symbol) => ({
            symbol,
            status: 'TRADING',
            ...(({ base, quote }) => ({ baseAsset: base, baseAssetPrecision: 8, quoteAsset: quote, quotePrecision: 8, quoteAssetPrecision: 8 }))(splitSymbol(symbol)),
            orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
            isSpotTradingAllowed: true,
            isMarginTradingAllowed: false,
            filters: [],
            permissions: [],
            permissionSets: [['SPOT']],
          })),
        };
      }
      case '/api/v3/trades':
      case '/api/v3/historicalTrades': {
        const t = tape(query.get('symbol'));
        const limit = limitParam(query, 500);
        const visible = t.visible(now);
        const fromId = path === '/api/v3/historicalTrades' ? intParam(query, 'fromId') : undefined;
        const start = fromId === undefined ? Math.max(0, visible - limit) : Math.max(0, Math.min(visible, fromId - t.idBase));
        return t.trades.slice(start, Math.min(visible, start + limit)).map(tradeRow);
      }
      case '/api/v3/aggTrades': {
        const t = tape(query.get('symbol'));
        const limit = limitParam(query, 500);
        const visible = t.visible(now);
        const fromId = intParam(query, 'fromId');
        const startTime = intParam(query, 'startTime');
        const endTime = intParam(query, 'endTime');
        const aggBase = t.aggBase;
        if (fromId !== undefined && (startTime !== undefined || endTime !== undefined)) {
          throw new ApiError(400, -1128, 'Combination of optional parameters invalid.');
        }
        let start: number;
        let end = visible;
        if (fromId !== undefined) start = Math.max(0, fromId + aggBase - t.idBase);
        else if (startTime !== undefined) {
          start = t.indexAtMs(startTime);
          if (endTime !== undefined) end = Math.min(visible, t.indexAtMs(endTime + 1));
        } else if (endTime !== undefined) {
          end = Math.min(visible, t.indexAtMs(endTime + 1));
          start = Math.max(0, end - limit);
        } else start = Math.max(0, visible - limit);
        return t.trades.slice(start, Math.max(start, Math.min(end, start + limit))).map((trade) => aggRow(trade, aggBase));
      }
      case '/api/v3/klines': {
        const t = tape(query.get('symbol'));
        const interval = INTERVALS[query.get('interval') ?? ''];
        if (!query.get('interval')) throw new ApiError(400, -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.");
        if (!interval) throw new ApiError(400, -1120, 'Invalid interval.');
        return klines(t, interval, query, now);
      }
      default:
        throw new ApiError(404, -1000, 'Not found.');
    }
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', 'X-MBX-USED-WEIGHT-1M': String(weight.used), ...headers });
    res.end(JSON.stringify(body));
  }

  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const now = Date.now();
    stats.requests[url.pathname] = (stats.requests[url.pathname] ?? 0) + 1;
    if (req.method !== 'GET') return send(res, 405, { code: -1000, msg: 'Method not allowed.' });
    weight.at(now);
    if (now < bannedUntil) {
      stats.banned++;
      return send(res, 418, { code: -1003, msg: `Way too much request weight used; IP banned until ${bannedUntil}. Please use WebSocket Streams for live updates to avoid bans.` }, {
        'Retry-After': String(Math.ceil((bannedUntil - now) / 1000)),
      });
    }
    if (now < backoffUntil) {
      // Told to wait and did not: Binance escalates to an IP ban (418).
      if (++violations >= violationsBeforeBan) {
        bannedUntil = now + 120_000;
        stats.banned++;
        return send(res, 418, { code: -1003, msg: `Way too much request weight used; IP banned until ${bannedUntil}. Please use WebSocket Streams for live updates to avoid bans.` }, { 'Retry-After': '120' });
      }
      stats.rateLimited++;
      return send(res, 429, { code: -1003, msg: 'Too much request weight used; please wait for Retry-After.' }, { 'Retry-After': String(Math.ceil((backoffUntil - now) / 1000)) });
    }
    const cost = WEIGHTS[url.pathname] ?? 1;
    let retryAfterSeconds = server.forced.take()?.retryAfterSeconds;
    if (retryAfterSeconds === undefined && weight.used + cost > weightPerMinute) retryAfterSeconds = MinuteBudget.secondsToNextMinute(now);
    if (retryAfterSeconds !== undefined) {
      backoffUntil = now + retryAfterSeconds * 1000;
      violations = 0;
      stats.rateLimited++;
      return send(res, 429, { code: -1003, msg: `Too much request weight used; current limit is ${weightPerMinute} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.` }, {
        'Retry-After': String(retryAfterSeconds),
      });
    }
    weight.used += cost;
    stats.weightUsed += cost;
    try {
      send(res, 200, route(url.pathname, url.searchParams, now));
    } catch (error) {
      if (error instanceof ApiError) return send(res, error.status, { code: error.code, msg: error.message });
      send(res, 500, { code: -1000, msg: `An unknown error occurred while processing the request. ${(error as Error).message}` });
    }
  }

  // --- WebSocket ------------------------------------------------------------------------------
  const streamSymbol = (stream: string): string | null => {
    const match = /^([a-z0-9]+)@trade$/.exec(stream);
    return match ? match[1]!.toUpperCase() : null;
  };

  /** `/stream?streams=a/b` (combined: frames wrapped with their stream name) or `/ws/a/b` (raw). */
  const requestedStreams = (url: URL): { combined: boolean; streams: string[] } | null => {
    if (url.pathname === '/stream') return { combined: true, streams: (url.searchParams.get('streams') ?? '').split('/').filter(Boolean) };
    if (url.pathname === '/ws' || url.pathname.startsWith('/ws/')) return { combined: false, streams: url.pathname.slice(4).split('/').filter(Boolean) };
    return null;
  };

  const server = new FeedServer<Connection>(options, handleRequest, {
    stats,
    serves: (url) => requestedStreams(url) !== null,
    accept(url, ws) {
      const { combined, streams } = requestedStreams(url)!;
      const connection: Connection = { ws, combined, streams: new Set(streams), cursor: Date.now(), stalled: false };
      ws.on('pong', () => stats.pongs++);
      ws.on('message', (data) => handleControl(connection, data.toString()));
      if (options.maxConnectionMs) setTimeout(() => ws.close(1000), options.maxConnectionMs).unref();
      return connection;
    },
  });
  const { connections } = server;

  function handleControl(connection: Connection, text: string): void {
    if (connection.stalled) return;
    let request: { method?: unknown; params?: unknown; id?: unknown };
    try {
      request = JSON.parse(text) as typeof request;
    } catch (error) {
      connection.ws.send(JSON.stringify({ code: 3, msg: `Invalid JSON: ${(error as Error).message}` }));
      return;
    }
    const params = Array.isArray(request.params) ? request.params.filter((p): p is string => typeof p === 'string') : [];
    switch (request.method) {
      case 'SUBSCRIBE':
        for (const p of params) connection.streams.add(p);
        connection.ws.send(JSON.stringify({ result: null, id: request.id ?? null }));
        break;
      case 'UNSUBSCRIBE':
        for (const p of params) connection.streams.delete(p);
        connection.ws.send(JSON.stringify({ result: null, id: request.id ?? null }));
        break;
      case 'LIST_SUBSCRIPTIONS':
        connection.ws.send(JSON.stringify({ result: [...connection.streams], id: request.id ?? null }));
        break;
      default:
        connection.ws.send(JSON.stringify({ code: 2, msg: `Invalid request: unknown variant ${JSON.stringify(request.method)}`, id: request.id ?? null }));
    }
  }

  const frame = (connection: Connection, stream: string, data: unknown): string =>
    JSON.stringify(connection.combined ? { stream, data } : data);

  const tradeEvent = (t: FakeTrade, eventTime: number) => ({
    e: 'trade', E: eventTime, s: t.symbol, t: t.id, p: t.price, q: t.qty, T: t.time, m: t.isBuyerMaker, M: true,
  });

  server.every(options.pushIntervalMs ?? 20, () => {
    const now = Date.now();
    for (const connection of server.live()) {
      for (const stream of connection.streams) {
        const symbolTape = tapes.get(streamSymbol(stream) ?? '');
        if (!symbolTape) continue;
        for (const trade of symbolTape.between(connection.cursor + 1, now + 1, now)) {
          if (!server.withheld.has(trade.time)) stats.tradeFramesSent += server.send(connection, frame(connection, stream, tradeEvent(trade, now)));
        }
      }
      connection.cursor = now;
    }
  });

  server.every(options.pingIntervalMs ?? 20_000, () => {
    for (const connection of server.live()) {
      connection.ws.ping(String(Date.now()));
      stats.pingsSent++;
    }
  });

  let garbageBursts = 0;
  async function sendGarbageOn(connection: Connection, bytes: number, maxFrameBytes: number, rand: () => number): Promise<{ frames: number; bytes: number }> {
    const stream = [...connection.streams][0] ?? 'btcusdt@trade';
    const symbol = (streamSymbol(stream) ?? 'BTCUSDT').toUpperCase();
    const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const noise = (length: number, lo: number, span: number) => {
      const buffer = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) buffer[i] = lo + Math.floor(rand() * span);
      return buffer;
    };
    const badFields: Record<string, unknown>[] = [{ p: 'abc' }, { q: '-1.5' }, { T: 'soon' }, { t: -5 }, { s: 'NOPEUSDT' }, { p: '0' }, { e: 'kline' }];
    let frames = 0;
    let sent = 0;
    while (sent < bytes && connection.ws.readyState === WebSocket.OPEN) {
      const length = frames % 500 === 499 ? between(MAX_TRADE_FRAME_BYTES + 1, maxFrameBytes) : between(64, 1024);
      let data: Buffer;
      let binary = false;
      switch (frames % 10) {
        case 0:
        case 1:
          data = noise(length, 32, 95); // printable ASCII, never JSON
          break;
        case 2:
          data = noise(length, 0, 256);
          binary = true;
          break;
        case 3:
          data = Buffer.from(`[${noise(length, 48, 10).toString('latin1').split('').join(',')}]`);
          break;
        case 4:
          data = Buffer.from(JSON.stringify({ stream, data: noise(length, 97, 26).toString('latin1') }));
          break;
        case 5:
          data = Buffer.from(frame(connection, stream, tradeEventLike(symbol)).slice(0, Math.max(10, length % 60)));
          break;
        default:
          data = Buffer.from(frame(connection, stream, { ...tradeEventLike(symbol), ...badFields[frames % badFields.length], x: noise(length, 97, 26).toString('latin1') }));
      }
      connection.ws.send(data, { binary });
      frames++;
      sent += data.length;
      // Wait for the client to read (bounded memory here too); between slices of the burst the push timer sends
      // the trades due (a timer turn, not just an immediate, so it gets to run).
      if (connection.ws.bufferedAmount > 1 << 20) {
        while (connection.ws.bufferedAmount > 256 << 10 && connection.ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 2));
      } else if (frames % 64 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    return { frames, bytes: sent };
  }

  const tradeEventLike = (symbol: string) => {
    const now = Date.now();
    return { e: 'trade', E: now, s: symbol, t: 1, p: '100.00000000', q: '1.00000000', T: now, m: false, M: true };
  };

  function malformedFrame(connection: Connection, kind: MalformedKind): string {
    const stream = [...connection.streams][0] ?? 'btcusdt@trade';
    const symbol = (streamSymbol(stream) ?? 'BTCUSDT').toUpperCase();
    const now = Date.now();
    const trade = { e: 'trade', E: now, s: symbol, t: 1, p: '100.00000000', q: '1.00000000', T: now, m: false, M: true };
    switch (kind) {
      case 'not_json':
        return '{"stream":"' + stream + '","data":{"e":"trade"';
      case 'unknown_event':
        return frame(connection, stream.replace('@trade', '@aggTrade'), { e: 'aggTrade', E: now, s: symbol, a: 1, p: '100.00000000', q: '1.00000000', f: 1, l: 1, T: now, m: false, M: true });
      case 'bad_price':
        return frame(connection, stream, { ...trade, p: 'abc' });
      case 'zero_price':
        return frame(connection, stream, { ...trade, p: '0.00000000' });
      case 'negative_size':
        return frame(connection, stream, { ...trade, q: '-1.50000000' });
      case 'future_timestamp':
        return frame(connection, stream, { ...trade, T: now + 86_400_000 });
      case 'oversized':
        return frame(connection, stream, { ...trade, padding: 'x'.repeat(70 * 1024) });
      case 'unknown_symbol':
        return frame(connection, 'xrpusdt@trade', { ...trade, s: 'XRPUSDT' });
    }
  }

  const controls: FakeBinanceControls = {
    ...server.streamFaults(),
    tradeNow(symbol) {
      // The next millisecond: the push loop has looked at every trade up to now.
      return tape(symbol.toUpperCase()).insert(Date.now() + 1);
    },
    injectMalformed(kinds = MALFORMED_KINDS) {
      return server.inject(kinds, malformedFrame);
    },
    serverShutdown({ closeAfterMs } = {}) {
      let n = 0;
      for (const connection of connections) {
        if (connection.ws.readyState !== WebSocket.OPEN) continue;
        connection.ws.send(JSON.stringify({ event: { e: 'serverShutdown', E: Date.now() } }));
        if (closeAfterMs !== undefined) setTimeout(() => connection.ws.close(1001), closeAfterMs).unref();
        n++;
      }
      return n;
    },
    async sendGarbage({ bytes, maxFrameBytes = 256 * 1024 }) {
      const started = Date.now();
      const burst = garbageBursts++;
      const targets = server.live();
      const results = await Promise.all(targets.map((c, i) => sendGarbageOn(c, bytes, Math.max(MAX_TRADE_FRAME_BYTES + 1, maxFrameBytes), mulberry32(hashSeed(seed, 'garbage', burst, i)))));
      return {
        connections: targets.length,
        frames: results.reduce((n, r) => n + r.frames, 0),
        bytes: results.reduce((n, r) => n + r.bytes, 0),
        ms: Date.now() - started,
      };
    },
    reset() {
      server.resetStream();
      backoffUntil = 0;
      bannedUntil = 0;
      violations = 0;
    },
  };

  return server.serve({
    controls,
    stats,
    trades(symbol, fromMs, toMs) {
      return tape(symbol.toUpperCase()).between(fromMs, toMs, Date.now());
    },
  });
}

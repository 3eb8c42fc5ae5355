import type http from 'node:http';
import { WebSocket } from 'ws';
import { CryptoTape, startTapes, type MarketTrade } from './crypto-tape.js';
import { pairLevel } from './market.js';
import { formatE8, hashSeed } from './random.js';
import { firstIndex } from './sorted.js';
import { FeedServer, type StreamFaults, type StreamingFake, type StreamStats, type TapeOptions, type WithholdFault } from './scaffold.js';

/**
 * A local Coinbase Exchange market-data server for tests and demos. It speaks Coinbase's wire formats
 * (the ws-feed `matches` and `heartbeat` channels with `subscriptions`, `last_match` and `error`
 * messages; REST products, trades with cursor pagination, candles, time; `{"message":..}` error
 * bodies) over one HTTP port, with trades that are a pure function of (seed, product, second):
 * trade ids are per product and increase by one per trade, sequences increase by one or more per
 * match (the real `sequence` counts every order-book message, so it jumps between matches). Both
 * follow from a trade's time (market.ts), so a restarted fake serves the same trades under the same
 * ids and continues the sequence; prices come from the market every fake shares.
 *
 * Trades exist from `historyMs` before the start onwards and become visible (stream and REST) when
 * their time has come. Fault switches (`controls`) drop, stall or starve connections, skip matches
 * while heartbeats keep reporting the newest trade id, send duplicates, malformed frames and error
 * messages, and answer 429 with Retry-After.
 */

export interface FakeCoinbaseOptions extends TapeOptions {
  /** Coinbase product ids (`BTC-USD`). Default BTC-USD, ETH-USD. */
  products?: readonly string[];
  /** Heartbeat messages per subscribed product (Coinbase: every second). */
  heartbeatIntervalMs?: number;
  /** How often due matches are pushed to connections (default 20 ms). */
  pushIntervalMs?: number;
  /** Public REST limit: requests per second per IP (Coinbase: 10) and burst (15). */
  requestsPerSecond?: number;
  burst?: number;
  /** A connection that has not subscribed after this long is closed (Coinbase: 5 s). */
  subscribeTimeoutMs?: number;
  /**
   * Send `trade_id` as a JSON string (`"trade_id":"18502034"`) in REST trade rows and in
   * match/last_match messages, as Coinbase's REST has been seen to do (default false: a number).
   */
  tradeIdAsString?: boolean;
}

export interface FakeCoinbaseTrade {
  productId: string;
  tradeId: number;
  /** Trade time in microseconds since the epoch (Coinbase stamps trades to the microsecond). */
  timeUs: number;
  /** `2026-01-02T03:04:05.123456Z`, as sent. */
  time: string;
  price: string;
  size: string;
  /** The maker order's side. */
  side: 'buy' | 'sell';
  sequence: number;
  makerOrderId: string;
  takerOrderId: string;
  priceE8: bigint;
  sizeE8: bigint;
}

export const COINBASE_MALFORMED_KINDS = [
  'not_json',
  'not_object',
  'missing_type',
  'unknown_type',
  'bad_price',
  'zero_price',
  'negative_size',
  'bad_trade_id',
  'bad_time',
  'future_timestamp',
  'oversized',
  'unknown_product',
] as const;
export type CoinbaseMalformedKind = (typeof COINBASE_MALFORMED_KINDS)[number];

/** withhold: heartbeats keep reporting the newest trade id, the gap a client detects from them. */
export interface FakeCoinbaseControls extends StreamFaults<CoinbaseMalformedKind>, WithholdFault {
  /** The next `count` matches of every product are not pushed on the connections open now (a sequence gap). */
  skipSequence(count: number): void;
  /** Sends `{"type":"error",..}` on every open connection; closes them after `closeAfterMs` if given (Coinbase disconnects after most errors). */
  sendError(options: { message: string; reason?: string; closeAfterMs?: number }): number;
  /** Clears all faults (withheld windows stay: those matches were never sent). */
  reset(): void;
}

export interface FakeCoinbaseStats extends StreamStats {
  subscribes: number;
  heartbeatsSent: number;
  matchFramesSent: number;
  requests: Record<string, number>;
  rateLimited: number;
}

export interface FakeCoinbase extends StreamingFake<FakeCoinbaseControls, FakeCoinbaseStats> {
  /** The trades of a product executed in [fromMs, toMs) and already visible, oldest first. */
  trades(productId: string, fromMs: number, toMs: number): FakeCoinbaseTrade[];
}

const GRANULARITIES = new Set([60, 300, 900, 3600, 21600, 86400]);
const MAX_CANDLES = 300;

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `2026-01-02T03:04:05.123456Z` from microseconds since the epoch. */
function isoMicros(timeUs: number): string {
  const ms = Math.floor(timeUs / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(timeUs % 1000).padStart(3, '0')}Z`;
}

/** A decimal string as a JSON number would print it: no trailing zeros; Go's float printing turns tiny values into exponent form. */
function jsonNumber(e8: bigint): string {
  if (e8 > 0n && e8 < 100n) {
    // Below 1e-6 Go prints `1.2e-07`.
    const digits = e8.toString();
    const rest = digits.slice(1).replace(/0+$/, '');
    return `${digits[0]}${rest ? `.${rest}` : ''}e-0${8 - (digits.length - 1)}`;
  }
  const text = formatE8(e8);
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

function uuid(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** Per product: every trade from the origin up to the newest generated second, in id (and time) order. */
class ProductTape extends CryptoTape<FakeCoinbaseTrade> {
  private readonly sequenceBase: number;

  constructor(
    readonly productId: string,
    seed: number,
    originSecond: number,
    rate: number,
  ) {
    // Coinbase quote increments: cents for dollar prices, finer below; times to the microsecond.
    super(productId, seed, originSecond, rate, { offsetsPerSecond: 1_000_000, smallDecimals: 5 });
    this.sequenceBase = 1_000_000_000 * (1 + (hashSeed(seed, productId, 'sequence') % 50));
  }

  protected level(second: number): number {
    const [base = '', quote = 'USD'] = this.productId.split('-');
    return pairLevel(base, quote, second);
  }

  protected make({ second, offset, id, priceE8, sizeE8, decimals }: MarketTrade, rand: () => number): FakeCoinbaseTrade {
    // The real sequence counts every order-book message of the product: matches are 1 to 7 apart.
    const sequence = this.sequenceBase + 4 * (id - this.counts.idOrigin) + Math.floor(rand() * 4);
    const timeUs = second * 1_000_000 + offset;
    const priceText = formatE8(priceE8);
    return {
      productId: this.productId,
      tradeId: id,
      timeUs,
      time: isoMicros(timeUs),
      price: priceText.slice(0, priceText.length - (8 - decimals)),
      size: formatE8(sizeE8),
      side: rand() < 0.5 ? 'buy' : 'sell',
      sequence,
      makerOrderId: uuid(rand),
      takerOrderId: uuid(rand),
      priceE8,
      sizeE8,
    };
  }

  /** Index of the first trade with timeUs >= t (among generated trades). */
  indexAtTimeUs(t: number): number {
    return firstIndex(this.trades, (trade) => trade.timeUs < t);
  }

  indexAtMs(ms: number): number {
    return this.indexAtTimeUs(ms * 1000);
  }

}

interface Connection {
  ws: WebSocket;
  subscribed: boolean;
  matches: Set<string>;
  heartbeat: Set<string>;
  /** Per product: index of the next trade to consider pushing. */
  next: Map<string, number>;
  /** Per product: matches still to skip (skipSequence). */
  skip: Map<string, number>;
  nextHeartbeatAt: number;
  stalled: boolean;
}

export async function startFakeCoinbase(options: FakeCoinbaseOptions = {}): Promise<FakeCoinbase> {
  const products = [...(options.products ?? ['BTC-USD', 'ETH-USD'])].map((p) => p.toUpperCase());
  const tapes = startTapes(products, options, (...args) => new ProductTape(...args));
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
  const requestsPerSecond = options.requestsPerSecond ?? 10;
  const burst = options.burst ?? 15;

  const stats: FakeCoinbaseStats = { connections: 0, open: 0, refused: 0, subscribes: 0, heartbeatsSent: 0, matchFramesSent: 0, requests: {}, rateLimited: 0 };
  let tokens = burst;
  let tokensAt = Date.now();

  const tape = (productId: string): ProductTape => {
    const found = tapes.get(productId.toUpperCase());
    if (!found) throw new ApiError(404, 'NotFound');
    return found;
  };

  // --- REST ---------------------------------------------------------------------------------
  const intParam = (query: URLSearchParams, name: string): number | undefined => {
    const raw = query.get(name);
    if (raw === null || raw === '') return undefined;
    if (!/^\d{1,15}$/.test(raw)) throw new ApiError(400, `Invalid ${name}`);
    return Number(raw);
  };
  /** Unix seconds or ISO 8601, as the candles endpoint takes them; ms since the epoch. */
  const timeParam = (query: URLSearchParams, name: string): number | undefined => {
    const raw = query.get(name);
    if (raw === null || raw === '') return undefined;
    const ms = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw);
    if (!Number.isFinite(ms)) throw new ApiError(400, `Invalid ${name}`);
    return ms;
  };

  const wireTradeId = (t: FakeCoinbaseTrade): number | string => (options.tradeIdAsString ? String(t.tradeId) : t.tradeId);
  const tradeRow = (t: FakeCoinbaseTrade) => ({ time: t.time, trade_id: wireTradeId(t), price: t.price, size: t.size, side: t.side });

  /** `before` = newer than the cursor (the page right after it), `after` = older; newest first either way. */
  function trades(productTape: ProductTape, query: URLSearchParams, now: number): { body: unknown[]; headers: Record<string, string> } {
    const limit = intParam(query, 'limit') ?? 1000;
    if (limit < 1 || limit > 1000) throw new ApiError(400, 'Invalid limit: must be between 1 and 1000');
    const before = intParam(query, 'before');
    const after = intParam(query, 'after');
    if (before !== undefined && after !== undefined) throw new ApiError(400, 'Only one of before and after may be given');
    const visible = productTape.visible(now);
    let start: number;
    let end: number;
    if (before !== undefined) {
      start = Math.min(visible, Math.max(0, before - productTape.idBase + 1));
      end = Math.min(visible, start + limit);
    } else if (after !== undefined) {
      end = Math.min(visible, Math.max(0, after - productTape.idBase));
      start = Math.max(0, end - limit);
    } else {
      end = visible;
      start = Math.max(0, end - limit);
    }
    const rows = productTape.trades.slice(start, end).reverse();
    const headers: Record<string, string> = {};
    if (rows.length > 0) {
      headers['CB-BEFORE'] = String(rows[0]!.tradeId);
      headers['CB-AFTER'] = String(rows[rows.length - 1]!.tradeId);
    }
    return { body: rows.map(tradeRow), headers };
  }

  /** Candle rows `[time, low, high, open, close, volume]`, newest first, numbers as JSON numbers; no row for a bucket without trades. */
  function candles(productTape: ProductTape, query: URLSearchParams, now: number): string {
    const granularity = Number(query.get('granularity') ?? '60');
    if (!GRANULARITIES.has(granularity)) throw new ApiError(400, 'Unsupported granularity');
    const g = granularity * 1000;
    let start = timeParam(query, 'start');
    let end = timeParam(query, 'end');
    // Both or neither: one alone is ignored and a range ending now is picked.
    if (start === undefined || end === undefined) {
      end = now;
      start = now - (MAX_CANDLES - 1) * g;
    }
    if (end < start) throw new ApiError(400, 'start must be before end');
    const first = Math.floor(start / g);
    const last = Math.floor(end / g);
    if (last - first + 1 > MAX_CANDLES) {
      throw new ApiError(400, `granularity too small for the requested time range. Count of aggregations requested exceeds ${MAX_CANDLES}`);
    }
    const visible = productTape.visible(now);
    const rows: string[] = [];
    let i = productTape.indexAtTimeUs(first * g * 1000);
    const stopUs = (last + 1) * g * 1000;
    while (i < visible && productTape.trades[i]!.timeUs < stopUs) {
      const bucket = Math.floor(productTape.trades[i]!.timeUs / (g * 1000));
      const bucketEndUs = (bucket + 1) * g * 1000;
      const open = productTape.trades[i]!.priceE8;
      let high = open;
      let low = open;
      let close = open;
      let volume = 0n;
      for (; i < visible && productTape.trades[i]!.timeUs < bucketEndUs; i++) {
        const t = productTape.trades[i]!;
        if (t.priceE8 > high) high = t.priceE8;
        if (t.priceE8 < low) low = t.priceE8;
        close = t.priceE8;
        volume += t.sizeE8;
      }
      rows.push(`[${bucket * granularity},${jsonNumber(low)},${jsonNumber(high)},${jsonNumber(open)},${jsonNumber(close)},${jsonNumber(volume)}]`);
    }
    return `[${rows.reverse().join(',')}]`;
  }

  function productRow(productId: string) {
    const [base, quote] = productId.split('-');
    return {
      id: productId, base_currency: base, quote_currency: quote, quote_increment: '0.01', base_increment: '0.00000001',
      display_name: `${base}/${quote}`, min_market_funds: '1', margin_enabled: false, post_only: false, limit_only: false,
      cancel_only: false, status: 'online', status_message: '', auction_mode: false,
    };
  }

  function route(path: string, query: URLSearchParams, now: number): { text: string; headers?: Record<string, string> } {
    if (path === '/time') return { text: JSON.stringify({ iso: new Date(now).toISOString(), epoch: now / 1000 }) };
    if (path === '/products') return { text: JSON.stringify(products.map(productRow)) };
    const match = /^\/products\/([^/]+)(\/trades|\/candles)?$/.exec(path);
    if (!match) throw new ApiError(404, 'NotFound');
    const productTape = tape(decodeURIComponent(match[1]!));
    switch (match[2]) {
      case undefined:
        return { text: JSON.stringify(productRow(productTape.productId)) };
      case '/trades': {
        const { body, headers } = trades(productTape, query, now);
        return { text: JSON.stringify(body), headers };
      }
      default:
        return { text: candles(productTape, query, now) };
    }
  }

  function send(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
    res.end(text);
  }

  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const now = Date.now();
    const key = url.pathname.replace(/^\/products\/[^/]+/, '/products/{id}');
    stats.requests[key] = (stats.requests[key] ?? 0) + 1;
    if (req.method !== 'GET') return send(res, 405, JSON.stringify({ message: 'Method Not Allowed' }));
    tokens = Math.min(burst, tokens + ((now - tokensAt) / 1000) * requestsPerSecond);
    tokensAt = now;
    let retryAfterSeconds = server.forced.take()?.retryAfterSeconds;
    if (retryAfterSeconds === undefined && tokens < 1) retryAfterSeconds = 1;
    if (retryAfterSeconds !== undefined) {
      stats.rateLimited++;
      return send(res, 429, JSON.stringify({ message: 'Public rate limit exceeded' }), { 'Retry-After': String(retryAfterSeconds) });
    }
    tokens -= 1;
    try {
      const { text, headers } = route(url.pathname, url.searchParams, now);
      send(res, 200, text, headers);
    } catch (error) {
      if (error instanceof ApiError) return send(res, error.status, JSON.stringify({ message: error.message }));
      send(res, 500, JSON.stringify({ message: `Internal server error: ${(error as Error).message}` }));
    }
  }

  // --- WebSocket ------------------------------------------------------------------------------
  const server = new FeedServer<Connection>(options, handleRequest, {
    stats,
    accept(_url, ws) {
      const connection: Connection = {
        ws, subscribed: false, matches: new Set(), heartbeat: new Set(), next: new Map(), skip: new Map(), nextHeartbeatAt: 0, stalled: false,
      };
      const subscribeTimer = setTimeout(() => {
        if (connection.subscribed || ws.readyState !== WebSocket.OPEN) return;
        ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'no subscribe message received within 5 seconds' }));
        ws.close(1000);
      }, options.subscribeTimeoutMs ?? 5000);
      subscribeTimer.unref();
      ws.on('close', () => clearTimeout(subscribeTimer));
      ws.on('message', (data) => handleClientMessage(connection, data.toString()));
      return connection;
    },
  });
  const { connections } = server;

  const sendJson = (connection: Connection, message: unknown) => connection.ws.send(JSON.stringify(message));

  /** `channels` as names (applying to `product_ids`) or as `{name, product_ids}` objects. */
  function requestedChannels(request: Record<string, unknown>): Map<string, string[]> | string {
    const topLevel = Array.isArray(request.product_ids) ? request.product_ids : [];
    const wanted = new Map<string, string[]>();
    if (!Array.isArray(request.channels) || request.channels.length === 0) return 'channels must be a non-empty array';
    for (const channel of request.channels as unknown[]) {
      const name = typeof channel === 'string' ? channel : typeof channel === 'object' && channel !== null ? (channel as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') return 'channel without a name';
      const ids = typeof channel === 'object' && channel !== null && Array.isArray((channel as { product_ids?: unknown }).product_ids)
        ? ((channel as { product_ids: unknown[] }).product_ids)
        : topLevel;
      if (name !== 'matches' && name !== 'heartbeat') return `${name} is not a valid channel`;
      const list: string[] = [];
      for (const id of ids) {
        if (typeof id !== 'string' || !tapes.has(id.toUpperCase())) return `${String(id)} is not a valid product`;
        list.push(id.toUpperCase());
      }
      if (list.length === 0) return `You need to specify at least one product ID for channel ${name}`;
      wanted.set(name, [...(wanted.get(name) ?? []), ...list]);
    }
    return wanted;
  }

  function subscriptionsMessage(connection: Connection) {
    const channels = [];
    if (connection.matches.size > 0) channels.push({ name: 'matches', product_ids: [...connection.matches] });
    if (connection.heartbeat.size > 0) channels.push({ name: 'heartbeat', product_ids: [...connection.heartbeat] });
    return { type: 'subscriptions', channels };
  }

  const matchMessage = (t: FakeCoinbaseTrade, type: 'match' | 'last_match' = 'match') => ({
    type, trade_id: wireTradeId(t), maker_order_id: t.makerOrderId, taker_order_id: t.takerOrderId, side: t.side,
    size: t.size, price: t.price, product_id: t.productId, sequence: t.sequence, time: t.time,
  });

  function handleClientMessage(connection: Connection, text: string): void {
    if (connection.stalled) return;
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch {
      sendJson(connection, { type: 'error', message: 'Malformed JSON', reason: 'message is not valid JSON' });
      return;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      sendJson(connection, { type: 'error', message: 'Failed to subscribe', reason: 'message is not an object' });
      return;
    }
    const message = request as Record<string, unknown>;
    if (message.type !== 'subscribe' && message.type !== 'unsubscribe') {
      sendJson(connection, { type: 'error', message: 'Failed to subscribe', reason: `${JSON.stringify(message.type ?? null)} is not a valid message type` });
      return;
    }
    const wanted = requestedChannels(message);
    if (typeof wanted === 'string') {
      // The whole request fails: nothing of it is subscribed.
      sendJson(connection, { type: 'error', message: `Failed to ${message.type}`, reason: wanted });
      return;
    }
    const now = Date.now();
    const fresh: string[] = [];
    for (const [name, ids] of wanted) {
      const set = name === 'matches' ? connection.matches : connection.heartbeat;
      for (const id of ids) {
        if (message.type === 'unsubscribe') {
          set.delete(id);
          continue;
        }
        if (name === 'matches' && !set.has(id)) fresh.push(id);
        set.add(id);
      }
    }
    if (message.type === 'subscribe') {
      stats.subscribes++;
      connection.subscribed = true;
      connection.nextHeartbeatAt = now + heartbeatIntervalMs;
    }
    sendJson(connection, subscriptionsMessage(connection));
    for (const id of fresh) {
      // The last trade before the subscription, then every trade after it.
      const productTape = tapes.get(id)!;
      const visible = productTape.visible(now);
      connection.next.set(id, visible);
      const last = productTape.trades[visible - 1];
      if (last) sendJson(connection, matchMessage(last, 'last_match'));
    }
  }

  server.every(options.pushIntervalMs ?? 20, () => {
    const now = Date.now();
    for (const connection of server.live()) {
      for (const id of connection.matches) {
        const productTape = tapes.get(id)!;
        const visible = productTape.visible(now);
        for (let i = connection.next.get(id) ?? visible; i < visible; i++) {
          const trade = productTape.trades[i]!;
          if (server.withheld.has(trade.timeUs / 1000)) continue;
          const skip = connection.skip.get(id) ?? 0;
          if (skip > 0) {
            connection.skip.set(id, skip - 1);
            continue;
          }
          stats.matchFramesSent += server.send(connection, JSON.stringify(matchMessage(trade)));
        }
        connection.next.set(id, visible);
      }
      if (connection.heartbeat.size > 0 && now >= connection.nextHeartbeatAt) {
        connection.nextHeartbeatAt = now + heartbeatIntervalMs;
        for (const id of connection.heartbeat) {
          // The newest trade, pushed or not: what lets a client see that it missed some.
          const productTape = tapes.get(id)!;
          const last = productTape.trades[productTape.visible(now) - 1];
          sendJson(connection, { type: 'heartbeat', last_trade_id: last?.tradeId ?? 0, product_id: id, sequence: last?.sequence ?? 0, time: isoMicros(now * 1000) });
          stats.heartbeatsSent++;
        }
      }
    }
  });

  function malformedFrame(connection: Connection, kind: CoinbaseMalformedKind): string {
    const productId = [...connection.matches][0] ?? products[0] ?? 'BTC-USD';
    const now = Date.now();
    const match = {
      type: 'match', trade_id: 1, maker_order_id: '00000000-0000-4000-a000-000000000001', taker_order_id: '00000000-0000-4000-a000-000000000002',
      side: 'buy', size: '1.00000000', price: '100.00', product_id: productId, sequence: 1, time: isoMicros(now * 1000),
    };
    switch (kind) {
      case 'not_json':
        return '{"type":"match","trade_id":';
      case 'not_object':
        return JSON.stringify([match]);
      case 'missing_type':
        return JSON.stringify({ ...match, type: undefined });
      case 'unknown_type':
        // Coinbase may add message types at any time; clients are expected to ignore them.
        return JSON.stringify({ type: 'ticker', product_id: productId, price: '100.00', time: match.time });
      case 'bad_price':
        return JSON.stringify({ ...match, price: 'abc' });
      case 'zero_price':
        return JSON.stringify({ ...match, price: '0.00' });
      case 'negative_size':
        return JSON.stringify({ ...match, size: '-1.50000000' });
      case 'bad_trade_id':
        return JSON.stringify({ ...match, trade_id: 'x1' });
      case 'bad_time':
        return JSON.stringify({ ...match, time: 'yesterday' });
      case 'future_timestamp':
        return JSON.stringify({ ...match, time: isoMicros((now + 86_400_000) * 1000) });
      case 'oversized':
        return JSON.stringify({ ...match, padding: 'x'.repeat(70 * 1024) });
      case 'unknown_product':
        return JSON.stringify({ ...match, product_id: 'XRP-USD' });
    }
  }

  const controls: FakeCoinbaseControls = {
    ...server.streamFaults(),
    skipSequence(count) {
      for (const connection of connections) for (const id of connection.matches) connection.skip.set(id, count);
    },
    injectMalformed(kinds = COINBASE_MALFORMED_KINDS) {
      return server.inject(kinds, malformedFrame);
    },
    sendError({ message, reason, closeAfterMs }) {
      let n = 0;
      for (const connection of server.live()) {
        sendJson(connection, reason === undefined ? { type: 'error', message } : { type: 'error', message, reason });
        if (closeAfterMs !== undefined) setTimeout(() => connection.ws.close(1000), closeAfterMs).unref();
        n++;
      }
      return n;
    },
    reset() {
      server.resetStream();
      tokens = burst;
      for (const connection of connections) connection.skip.clear();
    },
  };

  return server.serve({
    controls,
    stats,
    trades(productId, fromMs, toMs) {
      return tape(productId).between(fromMs, toMs, Date.now());
    },
  });
}

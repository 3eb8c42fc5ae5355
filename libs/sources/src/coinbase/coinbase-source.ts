import { stringify } from 'lossless-json';
import type { HistoryRequest, MarketSource, Observation, SourceBar, SourceOptions, SourceRejection, StreamContext } from '../source.js';
import { resumingSource } from '../kit/resuming-source.js';
import { restWiring } from '../kit/rest-wiring.js';
import type { Batcher } from '../kit/batcher.js';
import { emptyStreamStats, streamDefaults, type StreamOptions, type StreamStats } from '../kit/stream-options.js';
import { ID_PAGING_DEFAULTS, type IdCatchUp, type IdPagingOptions } from '../kit/id-gaps.js';
import { CoinbaseCatchUp, rowId } from './catch-up.js';
import { acceptedSymbols } from '../kit/accepted-symbols.js';
import { SAMPLE_CHARS } from '../kit/checks.js';
import { streamLogLines, streamTrades } from '../kit/trade-stream.js';
import { openSession } from '../kit/ws-session.js';
import { checkCandleRow, checkTradeRow, invalidProductOf, parseMessage, type CheckContext } from './frames.js';
import { CoinbaseRest, type CoinbaseRestStats } from './rest.js';
import { CoinbaseSymbolError, SubscribedProducts, toCoinbaseProduct } from './symbols.js';

export const COINBASE_DEFAULTS = {
  wsUrl: 'wss://ws-feed.exchange.coinbase.com',
  restUrl: 'https://api.exchange.coinbase.com',
  // Heartbeats arrive every second for every product: ten silent seconds are a dead link, not a quiet market.
  staleSeconds: 10,
  // Public REST limit is 10 requests/s per IP (bursts of 15): 8/s leaves room for clock skew and other clients.
  requestsPerMinute: 480,
} as const;

export interface CoinbaseSourceOptions extends StreamOptions, IdPagingOptions {
  wsUrl: string;
  restUrl: string;
  /** REST requests per minute: the in-process limiter's budget (ignored when `limiter` is given) and the local spacing. */
  requestsPerMinute: number;
  /**
   * After a (re)connect, catch-up first waits this long for the subscription's `last_match` to bound
   * the gap: when nothing was missed (a quiet product, a quick reconnect) no REST request is made.
   */
  boundWaitMs: number;
  /**
   * A heartbeat's `last_trade_id` not delivered by the stream this long after it was reported is a
   * gap (the matches were lost): less than the heartbeat interval would race the matches in flight.
   */
  heartbeatGraceMs: number;
  /** bars() serves a minute only once it ended this long ago: Coinbase's candle of a running minute is still changing. */
  candleSettleMs: number;
  /** Candles per request (Coinbase refuses more than 300). */
  maxCandlesPerRequest: number;
}

export interface CoinbaseStats extends StreamStats {
  /** `{"type":"error"}` messages received. */
  errorMessages: number;
  heartbeats: number;
  lastMatches: number;
  /** Messages of types this source does not use (Coinbase adds types; clients ignore them). */
  ignored: number;
  /** Candle rows bars() skipped as invalid. */
  badCandles: number;
  catchUp: { gaps: number; fromHeartbeat: number; trades: number; gaveUp: number };
  rest: CoinbaseRestStats;
}

export type CoinbaseSource = MarketSource & { readonly stats: CoinbaseStats };

// A connection up at least this long (and delivering) counts as healthy and resets the reconnect backoff.
const HEALTHY_CONNECTION_MS = 5_000;
// Matches and heartbeats are well under 1 KiB; a megabyte is a broken or hostile peer.
const MAX_FRAME_BYTES = 1 << 20;

/**
 * The `coinbase` source: trades from Coinbase Exchange's `matches` channel, with REST catch-up.
 *
 * Live: one WebSocket per `stream()` call subscribed to `matches` and `heartbeat` for every product,
 * emitting trades (the `last_match` sent after subscribing included) in small batches. The connection
 * is reopened with exponential backoff and jitter when it drops, when it stays silent longer than
 * `staleMs`, and after an `error` message (Coinbase disconnects after most of them). A product
 * Coinbase does not list is rejected and the others subscribed without it.
 *
 * No hole: the last trade id per product outlives connections (and `stream()` calls). Missed trades
 * are paged from `/products/{id}/trades` (cursor `before`, newest first) after each reconnect (from
 * last+1 up to the first trade the new subscription delivers), on a jump in trade ids, and when a
 * heartbeat's `last_trade_id` stays ahead of what was delivered (matches lost while the connection
 * looked fine). The `sequence` of matches is not a gap signal: it counts every order-book message
 * of the product, so it jumps between matches by design. Duplicates with the live stream can occur
 * and are absorbed by the writer's natural key.
 */
export function createCoinbaseSource(options: SourceOptions, overrides: Partial<CoinbaseSourceOptions> = {}): CoinbaseSource {
  const settings = options.settings?.coinbase;
  const opts: CoinbaseSourceOptions = {
    ...streamDefaults(options, settings, COINBASE_DEFAULTS),
    requestsPerMinute: settings?.requestsPerMinute ?? COINBASE_DEFAULTS.requestsPerMinute,
    pageLimit: 1000,
    ...ID_PAGING_DEFAULTS,
    boundWaitMs: 3_000,
    heartbeatGraceMs: 900,
    candleSettleMs: 5_000,
    maxCandlesPerRequest: 300,
    ...overrides,
  };
  checkSettings(opts);
  const random = opts.random ?? Math.random;
  const wiring = restWiring(options, 'coinbase', opts.requestsPerMinute, opts);
  const { logger } = wiring;
  const rest = new CoinbaseRest({ ...wiring, baseUrl: opts.restUrl, minIntervalMs: 60_000 / opts.requestsPerMinute });
  const stats: CoinbaseStats = {
    ...emptyStreamStats(),
    errorMessages: 0, heartbeats: 0, lastMatches: 0, ignored: 0, badCandles: 0,
    catchUp: { gaps: 0, fromHeartbeat: 0, trades: 0, gaveUp: 0 },
    rest: rest.stats,
  };

  const checkContext = (subscribed: SubscribedProducts): CheckContext => ({ subscribed, now: Date.now(), maxFutureMs: opts.maxFutureMs });

  const catchUp = new CoinbaseCatchUp(rest, opts, stats, checkContext, random);

  const reject = (ctx: StreamContext, rejection: SourceRejection) => {
    stats.rejected++;
    ctx.reject(rejection);
  };

  const subscribeMessage = (subscribed: SubscribedProducts) =>
    JSON.stringify({ type: 'subscribe', product_ids: subscribed.productIds(), channels: ['matches', 'heartbeat'] });

  function connect(ctx: StreamContext, subscribed: SubscribedProducts, batcher: Batcher, stream: IdCatchUp, live: (at: number) => void) {
    const ignoredTypes = new Set<string>();
    return openSession({
      url: opts.wsUrl,
      signal: ctx.signal,
      stats,
      staleMs: opts.staleMs,
      healthyMs: HEALTHY_CONNECTION_MS,
      maxPayload: MAX_FRAME_BYTES,
      onLive: live,
      onOpen: (session) => {
        // Coinbase disconnects a client that has not subscribed within 5 s.
        session.send(subscribeMessage(subscribed));
        session.live();
        catchUp.opened(stream);
      },
      onClose: () => batcher.flush(),
      onMessage: (text, bytes, session) => {
        const outcome = parseMessage(text, bytes, checkContext(subscribed));
        switch (outcome.kind) {
          case 'match':
            session.delivered();
            if (outcome.last) stats.lastMatches++;
            else stats.liveTrades++;
            stream.live(outcome.trade.symbol, outcome.trade.id, outcome.trade.timeUs);
            batcher.push(outcome.trade.observation);
            break;
          case 'heartbeat':
            session.delivered();
            stats.heartbeats++;
            catchUp.heartbeat(ctx, stream, outcome.symbol, outcome.lastTradeId);
            break;
          case 'subscriptions': {
            const missing = subscribed.productIds().filter((p) => !outcome.matches.includes(p) || !outcome.heartbeat.includes(p));
            if (missing.length > 0) ctx.logger.warn({ missing }, 'Coinbase subscriptions do not include every product asked for');
            else ctx.logger.info({ products: subscribed.size }, 'Coinbase subscriptions confirmed');
            break;
          }
          case 'error': {
            stats.errorMessages++;
            const invalid = invalidProductOf(outcome.reason);
            const symbol = invalid ? subscribed.remove(invalid) : undefined;
            if (invalid && symbol) {
              // Coinbase refuses the whole request: subscribe again without the product it does not list.
              reject(ctx, {
                symbol,
                reason: 'unknown_symbol',
                detail: `Coinbase has no product ${invalid}; remove ${symbol} from CRYPTO_SYMBOLS for the coinbase source`,
                sample: outcome.detail,
              });
              ctx.logger.error({ symbol, product: invalid }, 'Coinbase does not list this product; subscribing without it');
              if (subscribed.size > 0) session.send(subscribeMessage(subscribed));
              else session.end('no-products', outcome.detail);
              break;
            }
            ctx.logger.warn({ message: outcome.message, reason: outcome.reason }, 'Coinbase feed error message; reconnecting');
            session.end('error-message', `${outcome.message}${outcome.reason ? `: ${outcome.reason}` : ''}`);
            break;
          }
          case 'ignored':
            stats.ignored++;
            if (!ignoredTypes.has(outcome.type)) {
              ignoredTypes.add(outcome.type);
              ctx.logger.info({ type: outcome.type }, 'Coinbase message type not used by this source; ignoring it');
            }
            break;
          case 'rejected':
            reject(ctx, outcome.rejection);
            break;
        }
      },
    });
  }

  return {
    ...resumingSource('coinbase', options),
    stats,

    owedSince: (symbol: string) => catchUp.ids.owedSince(symbol),

    async stream(ctx: StreamContext) {
      const accepted = acceptedSymbols(ctx, toCoinbaseProduct, (e) => e instanceof CoinbaseSymbolError, { note: ' (CRYPTO_SYMBOLS)' });
      const symbols = accepted.map(([symbol]) => symbol);
      const subscribed = new SubscribedProducts(symbols);
      catchUp.ids.want(symbols, Date.now());
      await streamTrades(ctx, symbols, { stats, random, opts, logger }, {
        catchUp: () => catchUp.forStream(ctx, subscribed),
        connect: (batcher, stream, live) => connect(ctx, subscribed, batcher, stream, live),
        next: (end) => {
          if (end.reason !== 'no-products') return { initialMs: opts.initialBackoffMs, maxMs: opts.maxBackoffMs };
          ctx.logger.error({}, 'Coinbase lists none of the configured products; the coinbase source idles');
          return 'give-up';
        },
        ...streamLogLines(ctx, 'Coinbase feed', () => ({ products: subscribed.size })),
      });
    },

    async *history({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
      const productId = toCoinbaseProduct(symbol);
      if (to.getTime() <= from.getTime()) return;
      const subscribed = new SubscribedProducts([symbol]);
      let cursor = await catchUp.cursorBefore(productId, from.getTime(), signal);
      if (cursor === null) return;
      const fromUs = from.getTime() * 1000;
      const toUs = to.getTime() * 1000;
      for (;;) {
        const { rows } = await rest.trades(productId, { before: cursor }, opts.pageLimit, signal);
        const page: Observation[] = [];
        let maxId = -1;
        let ended = false;
        const check = checkContext(subscribed);
        for (const row of [...rows].reverse()) {
          const id = rowId(row);
          if (Number.isSafeInteger(id)) maxId = Math.max(maxId, id);
          const checked = checkTradeRow(row, productId, check);
          if (!checked.ok) {
            refuse?.(checked.rejection);
            continue;
          }
          if (checked.trade.timeUs >= toUs) {
            ended = true;
            break;
          }
          if (checked.trade.timeUs >= fromUs) page.push(checked.trade.observation);
        }
        if (page.length > 0) yield page;
        if (ended || rows.length < opts.pageLimit || maxId <= cursor) return;
        cursor = maxId;
      }
    },

    async *bars({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
      const productId = toCoinbaseProduct(symbol);
      const first = Math.ceil(from.getTime() / 60_000) * 60_000;
      // Minutes still running (or just ended) are left out: their candle would replace the minute's
      // candle before its last trades are in.
      const settledEnd = Math.floor((Date.now() - opts.candleSettleMs) / 60_000) * 60_000;
      const end = Math.min(to.getTime(), settledEnd);
      // A request for [start, start + span] holds span + 1 minutes if Coinbase counts the end inclusively:
      // ask for one minute less than the maximum and keep only [start, start + span).
      const spanMs = (opts.maxCandlesPerRequest - 1) * 60_000;
      for (let start = first; start < end; start += spanMs) {
        const stop = Math.min(end, start + spanMs);
        const rows = await rest.candles(productId, 60, new Date(start), new Date(stop), signal);
        const page: SourceBar[] = [];
        for (const row of rows) {
          const checked = checkCandleRow(row, symbol);
          if (!checked.ok) {
            stats.badCandles++;
            refuse?.({ symbol, reason: 'invalid_bar', detail: checked.detail, sample: (stringify(row) ?? String(row)).slice(0, SAMPLE_CHARS), barMinute: checked.minute });
            continue;
          }
          // Coinbase may return candles before `start`; each page keeps to its own minutes.
          if (checked.openMs >= start && checked.openMs < stop) page.push(checked.bar);
        }
        page.sort((a, b) => Date.parse(a.openTime) - Date.parse(b.openTime));
        if (page.length > 0) yield page;
      }
    },
  };
}

/** Settings come from the environment through the lead's config; a bad one fails at creation, naming its variable. */
function checkSettings(opts: CoinbaseSourceOptions): void {
  const url = (value: string, protocols: string[], variable: string) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !protocols.includes(parsed.protocol)) {
      throw new Error(`${variable} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL (got "${value}")`);
    }
  };
  url(opts.wsUrl, ['wss:', 'ws:'], 'COINBASE_WS_URL');
  url(opts.restUrl, ['https:', 'http:'], 'COINBASE_REST_URL');
  if (!(Number.isFinite(opts.staleMs) && opts.staleMs > 0)) {
    throw new Error(`the Coinbase stale-stream timeout must be a positive number of seconds (got ${opts.staleMs / 1000})`);
  }
  if (!(Number.isFinite(opts.requestsPerMinute) && opts.requestsPerMinute > 0)) {
    throw new Error(`the Coinbase request budget must be a positive number of requests per minute (got ${opts.requestsPerMinute})`);
  }
}

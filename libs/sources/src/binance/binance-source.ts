import type { HistoryRequest, MarketSource, Observation, SourceBar, SourceOptions, SourceRejection, StreamContext } from '../source.js';
import { resumingSource } from '../kit/resuming-source.js';
import { restWiring } from '../kit/rest-wiring.js';
import type { Batcher } from '../kit/batcher.js';
import { emptyStreamStats, streamDefaults, type StreamOptions, type StreamStats } from '../kit/stream-options.js';
import { ID_PAGING_DEFAULTS, IdCatchUp, TradeIdGaps, type IdGap, type IdPagingOptions } from '../kit/id-gaps.js';
import { acceptedSymbols } from '../kit/accepted-symbols.js';
import { streamLogLines, streamTrades } from '../kit/trade-stream.js';
import { openSession } from '../kit/ws-session.js';
import { jsonIdInteger } from '../kit/json-id.js';
import { checkKline, checkTradeRow, parseFrame, type CheckContext } from './frames.js';
import { BinanceApiError, BinanceRest, type RestStats } from './rest.js';
import { BinanceSymbolError, SubscribedSymbols, toBinanceSymbol } from './symbols.js';

export const BINANCE_DEFAULTS = {
  wsUrl: 'wss://stream.binance.com:9443',
  restUrl: 'https://api.binance.com',
  staleSeconds: 30,
  weightPerMinute: 6000,
} as const;

export interface BinanceSourceOptions extends StreamOptions, IdPagingOptions {
  wsUrl: string;
  restUrl: string;
  /** REQUEST_WEIGHT budget per minute of the in-process limiter (ignored when `limiter` is given). */
  weightPerMinute: number;
  /** Binance closes a connection at 24 h; reconnect (and catch up) before that. */
  maxConnectionMs: number;
}

export interface BinanceStats extends StreamStats {
  shutdownNotices: number;
  serverPings: number;
  catchUp: { gaps: number; trades: number; gaveUp: number };
  rest: RestStats;
}

export type BinanceSource = MarketSource & { readonly stats: BinanceStats };

// A connection up at least this long (and delivering) counts as healthy and resets the reconnect
// backoff: a flapping endpoint then costs at most one connection per 5 s, far under Binance's 300 per 5 min.
const HEALTHY_CONNECTION_MS = 5_000;
// Binance trade frames are well under 1 KiB; a megabyte is a broken or hostile peer.
const MAX_FRAME_BYTES = 1 << 20;

const DAY_MS = 86_400_000;
// Binance's maximum klines per request (weight 2 whatever the count).
const KLINES_PER_PAGE = 1000;
/**
 * The `binance` source: spot trades from Binance's combined trade stream, with REST catch-up.
 *
 * Live: one WebSocket per `stream()` call subscribed to `<symbol>@trade` for every symbol, emitting
 * trades in small batches. The connection is reopened with exponential backoff and jitter when it
 * drops, when it stays silent longer than `staleMs` (Binance pings every 20 s, so silence means a
 * dead connection), when the server announces `serverShutdown`, and before the 24 h limit.
 *
 * No hole: the last delivered trade id per symbol outlives connections (and `stream()` calls).
 * After each reconnect the missed ids are paged from `historicalTrades` (the same ids as the trade
 * stream) from last+1 up to the first id the new connection delivers; a jump in ids on a live
 * connection is filled the same way. Duplicates with the live stream can occur and are absorbed by
 * the writer's natural key.
 */
export function createBinanceSource(options: SourceOptions, overrides: Partial<BinanceSourceOptions> = {}): BinanceSource {
  const settings = options.settings?.binance;
  const opts: BinanceSourceOptions = {
    ...streamDefaults(options, settings, BINANCE_DEFAULTS),
    weightPerMinute: settings?.weightPerMinute ?? BINANCE_DEFAULTS.weightPerMinute,
    maxConnectionMs: DAY_MS - 30 * 60_000,
    pageLimit: 1000,
    ...ID_PAGING_DEFAULTS,
    ...overrides,
  };
  const random = opts.random ?? Math.random;
  const wiring = restWiring(options, 'binance', opts.weightPerMinute, opts);
  const { logger } = wiring;
  const rest = new BinanceRest({ ...wiring, baseUrl: opts.restUrl });
  const stats: BinanceStats = { ...emptyStreamStats(), shutdownNotices: 0, serverPings: 0, catchUp: { gaps: 0, trades: 0, gaveUp: 0 }, rest: rest.stats };

  const checkContext = (subscribed: SubscribedSymbols): CheckContext => ({ subscribed, now: Date.now(), maxFutureMs: opts.maxFutureMs });

  const ids = new TradeIdGaps({
    provider: 'Binance',
    pageLimit: opts.pageLimit,
    maxCatchUpTrades: opts.maxCatchUpTrades,
    restLagToleranceMs: opts.restLagToleranceMs,
    counts: stats.catchUp,
  });

  /** Pages historicalTrades (the same ids as the trade stream) over a gap. */
  async function fillGap(ctx: StreamContext, subscribed: SubscribedSymbols, symbol: string, gap: IdGap): Promise<void> {
    const binanceSymbol = toBinanceSymbol(symbol);
    if (Number.isNaN(gap.from) && gap.fromTimeMs !== undefined) {
      // No delivered trade yet: the first trade id at or after the time the symbol was asked for.
      const [first] = await rest.aggTrades(binanceSymbol, { startTime: gap.fromTimeMs, limit: 1 }, ctx.signal);
      const firstId = first ? jsonIdInteger(first.f) : Number.NaN;
      if (Number.isNaN(firstId)) {
        gap.done = true; // no trade since then: nothing was missed
        return;
      }
      gap.from = firstId;
    }
    await ids.fill(
      symbol,
      gap,
      {
        fetch: (fromId) => rest.historicalTrades(binanceSymbol, fromId, opts.pageLimit, ctx.signal),
        idOf: (row) => jsonIdInteger(row.id),
        check: (row) => {
          const checked = checkTradeRow(row, binanceSymbol, checkContext(subscribed));
          return checked.ok ? { ok: true, observation: checked.trade.observation, timeUs: checked.trade.time * 1000 } : checked;
        },
      },
      { emit: (page) => ctx.emit(page), reject: (rejection) => reject(ctx, rejection), logger: ctx.logger, signal: ctx.signal },
    );
  }

  const reject = (ctx: StreamContext, rejection: SourceRejection) => {
    stats.rejected++;
    ctx.reject(rejection);
  };

  const catchUpFor = (ctx: StreamContext, subscribed: SubscribedSymbols) =>
    new IdCatchUp(
      ids,
      {
        provider: 'Binance',
        symbols: () => subscribed.symbols(),
        fill: (symbol, gap) => fillGap(ctx, subscribed, symbol, gap),
        refused: (error) => error instanceof BinanceApiError && error.status >= 400 && error.status < 500 && error.status !== 429 && error.status !== 418,
      },
      ctx,
      random,
    );

  function connect(ctx: StreamContext, subscribed: SubscribedSymbols, batcher: Batcher, catchUp: IdCatchUp, live: (at: number) => void) {
    return openSession({
      url: `${opts.wsUrl.replace(/\/+$/, '')}/stream?streams=${subscribed.streams().join('/')}`,
      signal: ctx.signal,
      stats,
      staleMs: opts.staleMs,
      healthyMs: HEALTHY_CONNECTION_MS,
      maxPayload: MAX_FRAME_BYTES,
      maxAgeMs: opts.maxConnectionMs,
      onLive: live,
      onOpen: (session) => {
        session.live();
        catchUp.opened();
      },
      onPing: () => stats.serverPings++,
      onClose: () => batcher.flush(),
      onMessage: (text, bytes, session) => {
        session.delivered();
        const outcome = parseFrame(text, bytes, checkContext(subscribed));
        switch (outcome.kind) {
          case 'trade':
            stats.liveTrades++;
            catchUp.live(outcome.trade.symbol, outcome.trade.id, outcome.trade.time * 1000);
            batcher.push(outcome.trade.observation);
            break;
          case 'rejected':
            reject(ctx, outcome.rejection);
            break;
          case 'shutdown':
            stats.shutdownNotices++;
            session.end('shutdown', outcome.detail);
            break;
          case 'control':
            ctx.logger.info({ frame: outcome.detail }, 'Binance stream control message');
            break;
        }
      },
    });
  }

  return {
    ...resumingSource('binance', options),
    stats,

    owedSince: (symbol: string) => ids.owedSince(symbol),

    async stream(ctx: StreamContext) {
      const symbols = acceptedSymbols(ctx, toBinanceSymbol, (e) => e instanceof BinanceSymbolError).map(([symbol]) => symbol);
      const subscribed = new SubscribedSymbols(symbols);
      // From the start of the current minute: the first minute a fresh ingest stores is then complete.
      ids.want(symbols, Math.floor(Date.now() / 60_000) * 60_000);
      await streamTrades(ctx, symbols, { stats, random, opts, logger }, {
        catchUp: () => catchUpFor(ctx, subscribed),
        connect: (batcher, catchUp, live) => connect(ctx, subscribed, batcher, catchUp, live),
        // A planned close of a healthy connection (maintenance notice, 24 h limit): come back at once.
        next: (end) => (end.healthy && (end.reason === 'shutdown' || end.reason === 'max-age') ? 'at-once' : { initialMs: opts.initialBackoffMs, maxMs: opts.maxBackoffMs }),
        ...streamLogLines(ctx, 'Binance stream', () => ({ streams: subscribed.size })),
      });
    },

    async *bars({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
      const binanceSymbol = toBinanceSymbol(symbol);
      // Only closed minutes: the forming one would be replaced by the next read anyway.
      const end = Math.min(to.getTime(), Math.floor(Date.now() / 60_000) * 60_000);
      let start = Math.ceil(from.getTime() / 60_000) * 60_000;
      while (start < end) {
        const rows = await rest.klines(binanceSymbol, { interval: '1m', startTime: start, endTime: end - 1, limit: KLINES_PER_PAGE }, signal);
        const page: SourceBar[] = [];
        let last = -1;
        for (const row of rows) {
          const checked = checkKline(symbol, row);
          if (!checked.ok) {
            refuse?.(checked.rejection);
            if (checked.rejection.barMinute != null) last = Math.max(last, checked.rejection.barMinute);
            continue;
          }
          last = Math.max(last, checked.openMs);
          if (checked.openMs >= start && checked.openMs < end) page.push(checked.bar);
        }
        if (page.length > 0) yield page;
        if (rows.length < KLINES_PER_PAGE || last < start) return;
        start = last + 60_000;
      }
    },

    async *history({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
      const binanceSymbol = toBinanceSymbol(symbol);
      if (to.getTime() <= from.getTime()) return;
      const subscribed = new SubscribedSymbols([symbol]);
      // The first trade at or after `from`: its aggregate trade names the first trade id (weight 4).
      const [first] = await rest.aggTrades(binanceSymbol, { startTime: from.getTime(), endTime: to.getTime() - 1, limit: 1 }, signal);
      if (!first) return;
      let fromId = jsonIdInteger(first.f);
      if (Number.isNaN(fromId)) throw new BinanceApiError(200, null, `aggTrades row without a first trade id: ${JSON.stringify(first)}`);
      for (;;) {
        const rows = await rest.historicalTrades(binanceSymbol, fromId, opts.pageLimit, signal);
        const page: Observation[] = [];
        let maxId = -1;
        let ended = false;
        const check = checkContext(subscribed);
        for (const row of rows) {
          const id = jsonIdInteger(row.id);
          if (!Number.isNaN(id)) maxId = Math.max(maxId, id);
          const checked = checkTradeRow(row, binanceSymbol, check);
          if (!checked.ok) {
            refuse?.(checked.rejection);
            continue;
          }
          if (checked.trade.time >= to.getTime()) {
            ended = true;
            break;
          }
          if (checked.trade.time >= from.getTime()) page.push(checked.trade.observation);
        }
        if (page.length > 0) yield page;
        if (ended || rows.length < opts.pageLimit || maxId < fromId) return;
        fromId = maxId + 1;
      }
    },
  };
}

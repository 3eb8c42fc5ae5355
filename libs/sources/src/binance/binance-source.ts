import { setTimeout as sleep } from 'node:timers/promises';
import type { HistoryRequest, MarketSource, Observation, SourceBar, SourceLogger, SourceOptions, StreamContext } from '../source.js';
import { backoffDelay } from '../backoff.js';
import { Batcher } from '../kit/batcher.js';
import { reconnectLoop, untilAborted } from '../kit/reconnect.js';
import { openSession } from '../kit/ws-session.js';
import { checkTradeRow, parseFrame, type BinanceTrade, type CheckContext } from './frames.js';
import { TokenBucketLimiter, type RequestWeightLimiter } from '../rate-limiter.js';
import { BinanceApiError, BinanceRest, type RestStats } from './rest.js';
import { BinanceSymbolError, SubscribedSymbols, toBinanceSymbol } from './symbols.js';

export const BINANCE_DEFAULTS = {
  wsUrl: 'wss://stream.binance.com:9443',
  restUrl: 'https://api.binance.com',
  staleSeconds: 30,
  weightPerMinute: 6000,
} as const;

export interface BinanceSourceOptions {
  wsUrl: string;
  restUrl: string;
  /** A connection with no frame and no server ping for this long is terminated and reopened. */
  staleMs: number;
  /** REQUEST_WEIGHT budget per minute of the in-process limiter (ignored when `limiter` is given). */
  weightPerMinute: number;
  /** Trades stamped further ahead of the clock are rejected (`future_timestamp`). */
  maxFutureMs: number;
  /** Reconnect backoff: first delay (with jitter) and cap. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Binance closes a connection at 24 h; reconnect (and catch up) before that. */
  maxConnectionMs: number;
  /** Live trades are emitted in batches: at most this long after the first one, or this many. */
  batchMs: number;
  batchMaxTrades: number;
  /** historicalTrades page size (Binance max 1000). */
  pageLimit: number;
  /** A gap longer than this many trades is caught up only this far; the rest is left to gap-fill. */
  maxCatchUpTrades: number;
  /** How long catch-up waits for REST to show trades the stream already delivered after them. */
  restLagToleranceMs: number;
  limiter?: RequestWeightLimiter;
  fetch?: typeof fetch;
  random?: () => number;
}

export interface BinanceStats {
  /** Connections opened. */
  connections: number;
  /** Each reconnect: why the previous connection ended and how long no connection was open. */
  reconnects: { reason: string; downMs: number }[];
  staleTerminations: number;
  shutdownNotices: number;
  serverPings: number;
  liveTrades: number;
  rejected: number;
  catchUp: { gaps: number; trades: number; gaveUp: number };
  rest: RestStats;
}

export type BinanceSource = MarketSource & { readonly stats: BinanceStats };

/** One run of missing trade ids: `to` null means "up to the first trade the new connection delivers". */
// Gaps waiting per symbol while REST is failing; beyond this the oldest is left to gap-fill.
const MAX_PENDING_GAPS = 1000;

// A connection up at least this long (and delivering) counts as healthy and resets the reconnect
// backoff: a flapping endpoint then costs at most one connection per 5 s, far under Binance's 300 per 5 min.
const HEALTHY_CONNECTION_MS = 5_000;
// Binance trade frames are well under 1 KiB; a megabyte is a broken or hostile peer.
const MAX_FRAME_BYTES = 1 << 20;

interface Gap {
  /** First missing trade id; NaN until `fromTime` is resolved to an id. */
  from: number;
  to: number | null;
  done: boolean;
  /** For a symbol with no delivered trade yet: the gap starts at the first trade at or after this instant. */
  fromTime?: number;
  /** Time of the last trade delivered before the gap: a restart must replay from here while the gap is owed. */
  sinceTime?: number;
}

interface SymbolState {
  /** Highest trade id emitted (live or caught up). */
  lastId?: number;
  /** Time of the trade with `lastId`. */
  lastTime?: number;
  gaps: Gap[];
  /** The open-ended gap of the current connection, until its first live trade bounds it. */
  openGap?: Gap;
  /**
   * When the symbol was first asked for. Until one of its trades is delivered, a connection drop is
   * caught up from here by time (there is no trade id to start from yet).
   */
  wantedSince?: number;
}

const DAY_MS = 86_400_000;
// Binance's maximum klines per request (weight 2 whatever the count).
const KLINES_PER_PAGE = 1000;
const DECIMAL = /^(0|[1-9]\d{0,19})(\.\d{1,20})?$/;

/** A kline row `[openTime, "o", "h", "l", "c", "v", closeTime, "q", trades, ...]`; null when malformed. */
function klineToBar(symbol: string, row: unknown): SourceBar | null {
  if (!Array.isArray(row) || row.length < 9) return null;
  const [openTime, open, high, low, close, volume, , , trades] = row as unknown[];
  if (typeof openTime !== 'number' || !Number.isSafeInteger(openTime) || openTime % 60_000 !== 0) return null;
  const prices = [open, high, low, close, volume];
  if (!prices.every((p) => typeof p === 'string' && DECIMAL.test(p))) return null;
  return {
    symbol,
    openTime: new Date(openTime).toISOString().replace('.000Z', 'Z'),
    open: open as string, high: high as string, low: low as string, close: close as string, volume: volume as string,
    tradeCount: typeof trades === 'number' && Number.isSafeInteger(trades) && trades >= 0 ? trades : null,
  };
}

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
    wsUrl: settings?.wsUrl ?? BINANCE_DEFAULTS.wsUrl,
    restUrl: settings?.restUrl ?? BINANCE_DEFAULTS.restUrl,
    staleMs: (settings?.staleSeconds ?? BINANCE_DEFAULTS.staleSeconds) * 1000,
    weightPerMinute: settings?.weightPerMinute ?? BINANCE_DEFAULTS.weightPerMinute,
    maxFutureMs: options.settings?.maxFutureMs ?? 120_000,
    initialBackoffMs: 500,
    maxBackoffMs: 30_000,
    maxConnectionMs: DAY_MS - 30 * 60_000,
    batchMs: 50,
    batchMaxTrades: 500,
    pageLimit: 1000,
    maxCatchUpTrades: 500_000,
    restLagToleranceMs: 10_000,
    ...overrides,
  };
  const random = opts.random ?? Math.random;
  let logger: SourceLogger | undefined;
  // One budget per provider: every replica (through Redis when the service provides it) spends from it.
  const limiter = opts.limiter ?? options.limiter?.('binance', { perMinute: opts.weightPerMinute }) ?? new TokenBucketLimiter({ weightPerMinute: opts.weightPerMinute });
  const rest = new BinanceRest({
    baseUrl: opts.restUrl,
    limiter,
    fetch: opts.fetch,
    logger: { info: (o, m) => logger?.info(o, m), warn: (o, m) => logger?.warn(o, m), error: (o, m) => logger?.error(o, m) },
  });
  const states = new Map<string, SymbolState>();
  const stats: BinanceStats = {
    connections: 0,
    reconnects: [],
    staleTerminations: 0,
    shutdownNotices: 0,
    serverPings: 0,
    liveTrades: 0,
    rejected: 0,
    catchUp: { gaps: 0, trades: 0, gaveUp: 0 },
    rest: rest.stats,
  };

  const stateOf = (symbol: string): SymbolState => {
    let state = states.get(symbol);
    if (!state) states.set(symbol, (state = { gaps: [] }));
    return state;
  };
  const checkContext = (subscribed: SubscribedSymbols): CheckContext => ({ subscribed, now: Date.now(), maxFutureMs: opts.maxFutureMs });

  /** Catch-up of missed trade ids, one worker per symbol, bound to one `stream()` call. */
  class CatchUp {
    private readonly running = new Map<string, Promise<void>>();

    constructor(
      private readonly ctx: StreamContext,
      private readonly subscribed: SubscribedSymbols,
    ) {}

    /** A connection opened: everything after the last delivered id is missing until proven otherwise. */
    opened(): void {
      for (const symbol of this.subscribed.symbols()) {
        const state = stateOf(symbol);
        if (state.openGap && !state.openGap.done && state.openGap.to === null) state.openGap.done = true;
        state.openGap = undefined;
        let gap: Gap;
        if (state.lastId !== undefined) gap = { from: state.lastId + 1, to: null, done: false };
        else if (state.wantedSince !== undefined) gap = { from: Number.NaN, to: null, done: false, fromTime: state.wantedSince };
        else continue;
        this.pushGap(symbol, gap);
        state.openGap = gap;
        stats.catchUp.gaps++;
        this.kick(symbol);
      }
    }

    /** A live trade: bounds the open gap with the first one per connection, opens a gap on a jump. */
    live(trade: BinanceTrade): void {
      const state = stateOf(trade.symbol);
      const open = state.openGap;
      if (open) {
        state.openGap = undefined;
        if (!open.done) {
          open.to = trade.id - 1;
          if (state.lastId === undefined || trade.id >= state.lastId) state.lastTime = trade.time;
          state.lastId = Math.max(state.lastId ?? trade.id, trade.id);
          return;
        }
      }
      if (state.lastId !== undefined && trade.id > state.lastId + 1) {
        this.pushGap(trade.symbol, { from: state.lastId + 1, to: trade.id - 1, done: false });
        stats.catchUp.gaps++;
        this.kick(trade.symbol);
      }
      if (state.lastId === undefined || trade.id >= state.lastId) state.lastTime = trade.time;
      state.lastId = Math.max(state.lastId ?? trade.id, trade.id);
    }

    /**
     * Queues a gap. While REST keeps failing, reconnects and jumps keep adding gaps: past a bound the
     * oldest waiting one is given up (counted and logged) so memory stays bounded.
     */
    private pushGap(symbol: string, gap: Gap): void {
      const state = stateOf(symbol);
      gap.sinceTime ??= gap.fromTime ?? state.lastTime;
      state.gaps.push(gap);
      if (state.gaps.length > MAX_PENDING_GAPS) {
        // Index 0 may be in progress; the newest may be the open gap of the current connection.
        const [dropped] = state.gaps.splice(1, 1);
        if (dropped) dropped.done = true;
        stats.catchUp.gaveUp++;
        this.ctx.logger.warn({ symbol, from: dropped?.from, to: dropped?.to, pending: state.gaps.length }, 'too many Binance gaps pending; giving the oldest up to gap-fill');
      }
    }

    /** Starts workers for gaps left over from an earlier `stream()` call. */
    resume(): void {
      for (const symbol of this.subscribed.symbols()) if (stateOf(symbol).gaps.length > 0) this.kick(symbol);
    }

    async stop(): Promise<void> {
      await Promise.all(this.running.values());
    }

    private kick(symbol: string): void {
      if (this.running.has(symbol)) return;
      const run = this.drain(symbol).finally(() => this.running.delete(symbol));
      this.running.set(symbol, run);
    }

    private async drain(symbol: string): Promise<void> {
      const state = stateOf(symbol);
      let failures = 0;
      while (!this.ctx.signal.aborted) {
        const gap = state.gaps[0];
        if (!gap) return;
        if (gap.done) {
          state.gaps.shift();
          continue;
        }
        try {
          await this.fill(symbol, gap);
          failures = 0;
        } catch (error) {
          if (this.ctx.signal.aborted) return;
          if (error instanceof BinanceApiError && error.status >= 400 && error.status < 500 && error.status !== 429 && error.status !== 418) {
            this.ctx.logger.error({ symbol, from: gap.from, to: gap.to, err: error.message }, 'Binance catch-up refused; leaving the gap to gap-fill');
            gap.done = true;
            stats.catchUp.gaveUp++;
            continue;
          }
          const retryInMs = backoffDelay(failures++, 1000, 30_000, random);
          this.ctx.logger.warn({ symbol, from: gap.from, to: gap.to, retryInMs, err: (error as Error).message }, 'Binance catch-up failed; retrying');
          await sleep(retryInMs, undefined, { signal: this.ctx.signal }).catch(() => {});
        }
      }
    }

    /** Pages historicalTrades from gap.from until the gap is closed; progress stays in the gap. */
    private async fill(symbol: string, gap: Gap): Promise<void> {
      const binanceSymbol = toBinanceSymbol(symbol);
      if (Number.isNaN(gap.from) && gap.fromTime !== undefined) {
        // No delivered trade yet: the first trade id at or after the time the symbol was asked for.
        const [first] = await rest.aggTrades(binanceSymbol, { startTime: gap.fromTime, limit: 1 }, this.ctx.signal);
        if (!first || typeof first.f !== 'number' || !Number.isSafeInteger(first.f)) {
          gap.done = true; // no trade since then: nothing was missed
          return;
        }
        gap.from = first.f;
      }
      const started = gap.from;
      let fetched = 0;
      let waitingSince: number | undefined;
      while (!gap.done) {
        if (gap.to !== null && gap.from > gap.to) break;
        const rows = await rest.historicalTrades(binanceSymbol, gap.from, opts.pageLimit, this.ctx.signal);
        const page: Observation[] = [];
        let maxId = -1;
        const check = checkContext(this.subscribed);
        for (const row of rows) {
          const id = typeof row.id === 'number' ? row.id : Number.NaN;
          if (Number.isSafeInteger(id)) maxId = Math.max(maxId, id);
          if (gap.to !== null && id > gap.to) continue;
          const checked = checkTradeRow(row, binanceSymbol, check);
          if (!checked.ok) {
            stats.rejected++;
            this.ctx.reject(checked.rejection);
            continue;
          }
          page.push(checked.trade.observation);
        }
        if (page.length > 0) {
          this.ctx.emit(page);
          stats.catchUp.trades += page.length;
        }
        fetched += rows.length;
        if (maxId >= gap.from) {
          gap.from = maxId + 1;
          const state = stateOf(symbol);
          state.lastId = Math.max(state.lastId ?? maxId, Math.min(maxId, gap.to ?? maxId));
        }
        if (gap.to === null && rows.length < opts.pageLimit) break; // reached the newest trade
        if (gap.to !== null && gap.from > gap.to) break;
        if (rows.length < opts.pageLimit) {
          // REST has not caught up with the stream yet (it is served from a database): wait a little.
          waitingSince ??= Date.now();
          if (Date.now() - waitingSince > opts.restLagToleranceMs) {
            this.ctx.logger.warn({ symbol, from: gap.from, to: gap.to }, 'Binance REST does not have trades the stream skipped; leaving them to gap-fill');
            stats.catchUp.gaveUp++;
            break;
          }
          await sleep(500, undefined, { signal: this.ctx.signal });
          continue;
        }
        waitingSince = undefined;
        if (fetched >= opts.maxCatchUpTrades) {
          this.ctx.logger.warn({ symbol, from: started, reached: gap.from, to: gap.to }, 'Binance gap too long to catch up here; leaving the rest to gap-fill');
          stats.catchUp.gaveUp++;
          break;
        }
      }
      gap.done = true;
      if (fetched > 0) this.ctx.logger.info({ symbol, fromId: started, toId: gap.from - 1, trades: fetched }, 'caught up missed Binance trades');
    }
  }

  function connect(ctx: StreamContext, subscribed: SubscribedSymbols, batcher: Batcher, catchUp: CatchUp, live: (at: number) => void) {
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
            catchUp.live(outcome.trade);
            batcher.push(outcome.trade.observation);
            break;
          case 'rejected':
            stats.rejected++;
            ctx.reject(outcome.rejection);
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
    id: 'binance',
    assetClass: options.assetClass,
    resumesItself: true,
    stats,

    owedSince(symbol: string) {
      // The oldest trade time still owed by a pending catch-up: progress saved on stop must not pass it.
      let owed: number | undefined;
      for (const gap of states.get(symbol)?.gaps ?? []) {
        if (!gap.done && gap.sinceTime !== undefined) owed = Math.min(owed ?? gap.sinceTime, gap.sinceTime);
      }
      return owed;
    },

    async stream(ctx: StreamContext) {
      logger = ctx.logger;
      const symbols: string[] = [];
      for (const symbol of ctx.symbols) {
        try {
          toBinanceSymbol(symbol);
          symbols.push(symbol);
        } catch (error) {
          if (!(error instanceof BinanceSymbolError)) throw error;
          ctx.reject({ symbol, reason: 'invalid_symbol', detail: error.message, sample: symbol });
        }
      }
      if (symbols.length === 0) return untilAborted(ctx.signal);
      const subscribed = new SubscribedSymbols(symbols);
      // From the start of the current minute: the first minute a fresh ingest stores is then complete.
      const askedAt = Math.floor(Date.now() / 60_000) * 60_000;
      for (const symbol of symbols) stateOf(symbol).wantedSince ??= askedAt;
      const batcher = new Batcher((batch) => ctx.emit(batch), { maxMs: opts.batchMs, maxTrades: opts.batchMaxTrades });
      const catchUp = new CatchUp(ctx, subscribed);
      catchUp.resume();
      await reconnectLoop({
        ctx,
        stats,
        random,
        connect: (live) => connect(ctx, subscribed, batcher, catchUp, live),
        // A planned close of a healthy connection (maintenance notice, 24 h limit): come back at once.
        next: (end) => (end.healthy && (end.reason === 'shutdown' || end.reason === 'max-age') ? 'at-once' : { initialMs: opts.initialBackoffMs, maxMs: opts.maxBackoffMs }),
        onLive: (outage) =>
          outage
            ? ctx.logger.info({ reason: outage.reason, downMs: outage.downMs, streams: subscribed.size }, 'Binance stream reconnected')
            : ctx.logger.info({ streams: subscribed.size }, 'Binance stream connected'),
        onRetry: (end, retryInMs, attempt) => ctx.logger.warn({ reason: end.reason, detail: end.detail, retryInMs, attempt }, 'Binance stream closed; reconnecting'),
      });
      batcher.flush();
      await catchUp.stop();
    },

    async *bars({ symbol, from, to, signal }: HistoryRequest) {
      const binanceSymbol = toBinanceSymbol(symbol);
      // Only closed minutes: the forming one would be replaced by the next read anyway.
      const end = Math.min(to.getTime(), Math.floor(Date.now() / 60_000) * 60_000);
      let start = Math.ceil(from.getTime() / 60_000) * 60_000;
      while (start < end) {
        const rows = await rest.klines(binanceSymbol, { interval: '1m', startTime: start, endTime: end - 1, limit: KLINES_PER_PAGE }, signal);
        const page: SourceBar[] = [];
        let last = -1;
        for (const row of rows) {
          const bar = klineToBar(symbol, row);
          if (!bar) continue;
          const openMs = Date.parse(bar.openTime);
          last = Math.max(last, openMs);
          if (openMs >= start && openMs < end) page.push(bar);
        }
        if (page.length > 0) yield page;
        if (rows.length < KLINES_PER_PAGE || last < start) return;
        start = last + 60_000;
      }
    },

    async *history({ symbol, from, to, signal }: HistoryRequest) {
      const binanceSymbol = toBinanceSymbol(symbol);
      if (to.getTime() <= from.getTime()) return;
      const subscribed = new SubscribedSymbols([symbol]);
      // The first trade at or after `from`: its aggregate trade names the first trade id (weight 4).
      const [first] = await rest.aggTrades(binanceSymbol, { startTime: from.getTime(), endTime: to.getTime() - 1, limit: 1 }, signal);
      if (!first) return;
      if (typeof first.f !== 'number' || !Number.isSafeInteger(first.f)) {
        throw new BinanceApiError(200, null, `aggTrades row without a first trade id: ${JSON.stringify(first)}`);
      }
      let fromId: number = first.f;
      for (;;) {
        const rows = await rest.historicalTrades(binanceSymbol, fromId, opts.pageLimit, signal);
        const page: Observation[] = [];
        let maxId = -1;
        let ended = false;
        const check = checkContext(subscribed);
        for (const row of rows) {
          if (typeof row.id === 'number' && Number.isSafeInteger(row.id)) maxId = Math.max(maxId, row.id);
          const checked = checkTradeRow(row, binanceSymbol, check);
          if (!checked.ok) continue; // history has no reject channel; the pipeline would refuse it anyway
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

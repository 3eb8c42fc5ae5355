import { setTimeout as sleep } from 'node:timers/promises';
import type { Observation, SourceBar, StreamContext } from '../source.js';
import { CATCH_UP_RETRY, GapWorkers } from '../kit/gap-queue.js';
import { checkBar, checkTrade, type CheckContext } from './frames.js';
import type { AlpacaSourceOptions } from './alpaca-source.js';
import type { Plan } from './handshake.js';
import { AlpacaApiError, AlpacaAuthError, type AlpacaRest } from './rest.js';

export type AlpacaCatchUpSettings = Pick<
  AlpacaSourceOptions,
  'pageLimit' | 'catchUpLookbackMs' | 'catchUpDelayMs' | 'clockMarginMs' | 'maxCatchUpMs' | 'barIntervalMs' | 'authRetryInitialMs' | 'authRetryMaxMs'
>;

export interface AlpacaCatchUpStats {
  rejected: number;
  catchUp: { windows: number; trades: number; bars: number; gaveUp: number };
}

/** Time to fetch over REST: trades in [from, to] (both inclusive, as Alpaca's start/end), bars by open time in [from, to). */
interface Window {
  from: number;
  to: number;
  /** Not asked before this instant (REST lag). */
  readyAt: number;
}

/** A catch-up item: a window of trades or of bars. */
type Pending = { kind: 'trades' | 'bars'; window: Window };

interface SymbolState {
  /** Newest trade time delivered (live or caught up), ms. */
  lastTradeMs?: number;
  /** Newest bar open time delivered, ms. */
  lastBarOpenMs?: number;
  /** When the symbol was first asked for: catch-up starts here until something was delivered. */
  wantedSince?: number;
  trades: Window[];
  bars: Window[];
  /** The trades window being fetched now (taken off `trades` until it is done or put back). */
  fetchingTrades?: Window;
}

// Catch-up windows waiting per symbol while REST is failing; past this the two oldest are merged
// (a longer window re-fetches more, but loses nothing).
const MAX_PENDING_WINDOWS = 100;
// Bars seen live, remembered this long so an older REST answer cannot overwrite a newer correction.
const LIVE_BAR_MEMORY_MS = 10 * 60_000;
// Past this many remembered live bars, the ones older than LIVE_BAR_MEMORY_MS are swept.
const LIVE_BAR_SWEEP_AT = 20_000;

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;
const iso = (ms: number) => new Date(ms).toISOString();

function addWindow(list: Window[], window: Window): void {
  list.push(window);
  list.sort((a, b) => a.from - b.from);
  for (let i = 1; i < list.length; ) {
    const previous = list[i - 1]!;
    const current = list[i]!;
    if (current.from <= previous.to || list.length > MAX_PENDING_WINDOWS) {
      previous.to = Math.max(previous.to, current.to);
      previous.readyAt = Math.max(previous.readyAt, current.readyAt);
      list.splice(i, 1);
    } else i++;
  }
}

/**
 * Alpaca's catch-up, by time (its trade ids are per exchange, not a sequence): per symbol the newest
 * delivered trade and bar times outlive connections and `stream()` calls. Once a connection is
 * subscribed, REST trades are paged from the last delivered trade (less a lookback, for late
 * reports) up to the subscription, and REST bars for the intervals closed meanwhile.
 */
export class AlpacaCatchUp {
  private readonly states = new Map<string, SymbolState>();
  private readonly liveBarAt = new Map<string, number>();

  constructor(
    private readonly rest: AlpacaRest,
    private readonly opts: AlpacaCatchUpSettings,
    private readonly stats: AlpacaCatchUpStats,
    private readonly checkContext: (byAlpaca: ReadonlyMap<string, string>) => CheckContext,
    private readonly random: () => number,
  ) {}

  want(symbol: string, since: number): void {
    this.stateOf(symbol).wantedSince ??= since;
  }

  noteTrade(symbol: string, timeMs: number): void {
    const state = this.stateOf(symbol);
    state.lastTradeMs = Math.max(state.lastTradeMs ?? timeMs, timeMs);
  }

  /** A bar came live: newer than any REST answer asked for before now. */
  liveBar(symbol: string, openMs: number): void {
    this.noteBar(symbol, openMs);
    const now = Date.now();
    this.liveBarAt.set(`${symbol}|${openMs}`, now);
    if (this.liveBarAt.size > LIVE_BAR_SWEEP_AT) {
      for (const [key, at] of this.liveBarAt) if (now - at > LIVE_BAR_MEMORY_MS) this.liveBarAt.delete(key);
    }
  }

  /**
   * What this process still owes of a symbol, which a restart would lose: trades windows not yet
   * fetched (or being fetched) after a reconnect, and late reports, which arrive up to
   * `catchUpLookbackMs` behind the newest trade (the same lookback the catch-up uses).
   */
  owedSince(symbol: string): number | undefined {
    const state = this.states.get(symbol);
    if (!state) return undefined;
    const from = [...state.trades, ...(state.fetchingTrades ? [state.fetchingTrades] : [])].map((w) => w.from);
    if (state.lastTradeMs !== undefined) from.push(state.lastTradeMs - this.opts.catchUpLookbackMs);
    return from.length > 0 ? Math.min(...from) : undefined;
  }

  /** The catch-up workers of one `stream()` call. */
  forStream(ctx: StreamContext, plan: Plan) {
    const { opts } = this;
    const workers = new GapWorkers<Pending>(
      {
        provider: 'Alpaca',
        next: (symbol) => {
          const state = this.stateOf(symbol);
          // Trades first: they are what the stream delivers and what gap-fill cannot recreate.
          const kind = state.trades.length > 0 ? 'trades' : 'bars';
          const window = state[kind].shift();
          if (!window) return undefined;
          if (kind === 'trades') state.fetchingTrades = window;
          return { kind, window };
        },
        fill: async (symbol, { kind, window }) => {
          const waitMs = window.readyAt - Date.now();
          if (waitMs > 0) await sleep(waitMs, undefined, { signal: ctx.signal });
          if (kind === 'trades') await this.fillTrades(ctx, plan, symbol, window);
          else await this.fillBars(ctx, plan, symbol, window);
        },
        refused: (error) => error instanceof AlpacaApiError && !(error instanceof AlpacaAuthError) && error.status >= 400 && error.status < 500 && error.status !== 429,
        retryAfter: (error) => (error instanceof AlpacaAuthError ? { initialMs: opts.authRetryInitialMs, maxMs: opts.authRetryMaxMs, loud: true } : CATCH_UP_RETRY),
        settle: (symbol, { kind, window }, how) => {
          const state = this.stateOf(symbol);
          state.fetchingTrades = undefined;
          if (how === 'refused') this.stats.catchUp.gaveUp++;
          else if (how !== 'filled') addWindow(state[kind], window); // progress is kept in window.from
        },
        describe: ({ kind, window }) => ({ kind, from: iso(window.from), to: iso(window.to) }),
      },
      ctx.signal,
      ctx.logger,
      this.random,
    );
    return {
      /** A connection is subscribed since `at`: whatever came before it and was not delivered is fetched. */
      subscribed: (at: number): void => {
        const readyAt = at + opts.catchUpDelayMs;
        for (const symbol of plan.symbols) {
          const state = this.stateOf(symbol);
          const since = state.wantedSince ?? at;
          if (!plan.limited.has(symbol)) {
            const from = state.lastTradeMs === undefined ? since : state.lastTradeMs - opts.catchUpLookbackMs;
            this.add(ctx, symbol, 'trades', { from, to: at + opts.clockMarginMs, readyAt });
          }
          // Bars of intervals closed before the subscription; the interval in progress comes live.
          const barTo = floorTo(at, opts.barIntervalMs);
          const barFrom = floorTo((state.lastBarOpenMs ?? since) - opts.catchUpLookbackMs, opts.barIntervalMs);
          if (barTo > barFrom) this.add(ctx, symbol, 'bars', { from: barFrom, to: barTo, readyAt });
          workers.kick(symbol);
        }
      },
      /** Starts workers for windows left over from an earlier `stream()` call. */
      resume: (): void => {
        for (const symbol of plan.symbols) {
          const state = this.stateOf(symbol);
          if (state.trades.length > 0 || state.bars.length > 0) workers.kick(symbol);
        }
      },
      stop: () => workers.stop(),
    };
  }

  private stateOf(symbol: string): SymbolState {
    let state = this.states.get(symbol);
    if (!state) this.states.set(symbol, (state = { trades: [], bars: [] }));
    return state;
  }

  private noteBar(symbol: string, openMs: number): void {
    const state = this.stateOf(symbol);
    state.lastBarOpenMs = Math.max(state.lastBarOpenMs ?? openMs, openMs);
  }

  private add(ctx: StreamContext, symbol: string, kind: Pending['kind'], window: Window): void {
    const { opts } = this;
    if (window.to - window.from > opts.maxCatchUpMs) {
      const cut = window.to - opts.maxCatchUpMs;
      ctx.logger.warn({ symbol, kind, from: iso(window.from), to: iso(window.to), keptFrom: iso(cut) }, 'Alpaca catch-up window too long; the start is left to gap-fill');
      this.stats.catchUp.gaveUp++;
      window.from = kind === 'bars' ? floorTo(cut, opts.barIntervalMs) : cut;
    }
    this.stats.catchUp.windows++;
    addWindow(this.stateOf(symbol)[kind], window);
  }

  private reject(ctx: StreamContext, rejection: Parameters<StreamContext['reject']>[0]): void {
    this.stats.rejected++;
    ctx.reject(rejection);
  }

  /** Pages REST trades of the window; `window.from` follows the progress so a retry resumes there. */
  private async fillTrades(ctx: StreamContext, plan: Plan, symbol: string, window: Window): Promise<void> {
    let pageToken: string | null = null;
    let fetched = 0;
    // One query, paged with its token; window.from only records progress for a retry.
    const started = window.from;
    const start = iso(window.from);
    const end = iso(window.to);
    do {
      const page = await this.rest.trades({ symbols: [symbol], start, end, limit: this.opts.pageLimit, pageToken }, ctx.signal);
      const check = this.checkContext(plan.byAlpaca);
      const out: Observation[] = [];
      let newest = -Infinity;
      for (const row of page.rows[symbol] ?? []) {
        fetched++;
        const checked = checkTrade(row, check, symbol);
        if (!checked.ok) {
          this.reject(ctx, checked.rejection);
          continue;
        }
        out.push(checked.value.observation);
        newest = Math.max(newest, checked.value.timeMs);
      }
      if (out.length > 0) {
        ctx.emit(out);
        this.stats.catchUp.trades += out.length;
        this.noteTrade(symbol, newest);
        // Rows come oldest first: everything before `newest` is delivered (trades at `newest` may repeat).
        if (newest > window.from) window.from = newest;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== null && !ctx.signal.aborted);
    ctx.signal.throwIfAborted();
    if (fetched > 0) ctx.logger.info({ symbol, from: iso(started), to: iso(window.to), trades: fetched }, 'caught up Alpaca trades');
  }

  /** Pages REST bars of the window; a bar that came live after the request started is newer and kept. */
  private async fillBars(ctx: StreamContext, plan: Plan, symbol: string, window: Window): Promise<void> {
    let pageToken: string | null = null;
    const start = iso(window.from);
    const end = iso(window.to - 1); // Alpaca's end is inclusive; bars open before window.to
    do {
      const askedAt = Date.now();
      const page = await this.rest.bars({ symbols: [symbol], start, end, limit: this.opts.pageLimit, pageToken }, ctx.signal);
      const check = this.checkContext(plan.byAlpaca);
      const out: SourceBar[] = [];
      let newest = -Infinity;
      for (const row of page.rows[symbol] ?? []) {
        const checked = checkBar(row, check, symbol);
        if (!checked.ok) {
          this.reject(ctx, checked.rejection);
          continue;
        }
        const { openMs, bar } = checked.value;
        if (openMs < window.from || openMs >= window.to) continue;
        newest = Math.max(newest, openMs);
        if ((this.liveBarAt.get(`${symbol}|${openMs}`) ?? -Infinity) >= askedAt) continue;
        out.push(bar);
      }
      if (out.length > 0) {
        ctx.emitBars(out);
        this.stats.catchUp.bars += out.length;
      }
      if (newest > -Infinity) {
        this.noteBar(symbol, newest);
        window.from = newest + this.opts.barIntervalMs;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== null && !ctx.signal.aborted);
    ctx.signal.throwIfAborted();
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { HistoryRequest, MarketSource, Observation, SourceBar, SourceLogger, SourceOptions, StreamContext } from '../source.js';
import { Batcher } from '../kit/batcher.js';
import { CATCH_UP_RETRY, GapWorkers } from '../kit/gap-queue.js';
import { reconnectLoop, untilAborted } from '../kit/reconnect.js';
import { openSession, type Session } from '../kit/ws-session.js';
import { TokenBucketLimiter, type RequestWeightLimiter } from '../rate-limiter.js';
import { checkBar, checkTrade, MAX_FRAME_BYTES, parseFrame, type CheckContext, type ControlMessage } from './frames.js';
import { AlpacaApiError, AlpacaAuthError, AlpacaRest, type AlpacaRestStats } from './rest.js';
import { AlpacaSymbolError, toAlpacaSymbol } from './symbols.js';

export const ALPACA_DEFAULTS = {
  /** The feed is appended: `wss://stream.data.alpaca.markets/v2/iex`. */
  wsUrl: 'wss://stream.data.alpaca.markets/v2',
  restUrl: 'https://data.alpaca.markets',
  /** The free plan streams IEX only; sip needs a paid plan. */
  feed: 'iex',
  staleSeconds: 30,
  /** Free plan: 200 historical calls per minute per key (the limiter keeps 10% of it unused). */
  requestsPerMinute: 200,
} as const;

export interface AlpacaSourceOptions {
  /** Without the feed (`wss://stream.data.alpaca.markets/v2`); the feed is appended. */
  wsUrl: string;
  restUrl: string;
  feed: string;
  keyId: string;
  secretKey: string;
  /** A connection with no frame and no pong for this long is terminated and reopened. */
  staleMs: number;
  /**
   * The client pings this often: outside market hours Alpaca sends nothing for hours, and the pongs
   * are what tell a quiet connection from a dead one.
   */
  pingIntervalMs: number;
  /** Historical calls per minute of the in-process limiter (ignored when a limiter is given). */
  requestsPerMinute: number;
  /** Trades and bars stamped further ahead of the clock are rejected (`future_timestamp`). */
  maxFutureMs: number;
  /** Reconnect backoff after a drop: first delay (with jitter) and cap. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** After an auth failure (401/402/409): a wrong key does not fix itself in a second, so wait longer. */
  authRetryInitialMs: number;
  authRetryMaxMs: number;
  /** After 406 connection limit exceeded: another connection uses this key; it may hold on for long. */
  connectionLimitRetryInitialMs: number;
  connectionLimitRetryMaxMs: number;
  /** No `authenticated` and subscription within this long after the socket opened: reconnect. */
  handshakeTimeoutMs: number;
  /** Live trades are emitted in batches: at most this long after the first one, or this many. */
  batchMs: number;
  batchMaxTrades: number;
  /** Page size of REST trades and bars (Alpaca max 10,000). */
  pageLimit: number;
  /**
   * Catch-up after a reconnect starts this long before the last delivered trade (and bar): late
   * reported trades and bar corrections arrive after newer data, so the newest time seen is not
   * a clean cut. 90 s: a minute bar plus the ~30 s within which Alpaca sends its corrections.
   * Re-sent trades and bars are absorbed downstream.
   */
  catchUpLookbackMs: number;
  /** REST lags the stream a little: catch-up asks no earlier than this after the subscription. */
  catchUpDelayMs: number;
  /** Catch-up reaches this far past the local subscription time (clock skew with Alpaca). */
  clockMarginMs: number;
  /** A catch-up window longer than this is cut at its start; the rest is left to gap-fill. */
  maxCatchUpMs: number;
  /** Bar length: 60 s; shorter only against the fake in tests. */
  barIntervalMs: number;
  maxFrameBytes: number;
  limiter?: RequestWeightLimiter;
  fetch?: typeof fetch;
  random?: () => number;
}

export interface AlpacaStats {
  /** Sockets opened. */
  connections: number;
  /** Each time the stream was live again: why the previous connection ended and how long none was live. */
  reconnects: { reason: string; downMs: number }[];
  staleTerminations: number;
  authFailures: number;
  connectionLimitErrors: number;
  /** Error messages from the stream by code. */
  serverErrors: Record<string, number>;
  liveTrades: number;
  liveBars: number;
  updatedBars: number;
  ignoredMessages: number;
  rejected: number;
  /** Symbols whose trades the plan's symbol limit (405) refused. */
  limitedSymbols: string[];
  catchUp: { windows: number; trades: number; bars: number; gaveUp: number };
  rest: AlpacaRestStats;
}

export type AlpacaSource = MarketSource & { readonly stats: AlpacaStats };

/** A setting is missing or wrong: thrown at creation, naming the environment variable to fix. */
export class AlpacaConfigError extends Error {}

// A connection live at least this long resets the reconnect backoff: an endpoint that accepts,
// authenticates and drops at once must not be hammered.
const HEALTHY_CONNECTION_MS = 5_000;
// Catch-up windows waiting per symbol while REST is failing; past this the two oldest are merged
// (a longer window re-fetches more, but loses nothing).
const MAX_PENDING_WINDOWS = 100;
// Bars seen live, remembered this long so an older REST answer cannot overwrite a newer correction.
const LIVE_BAR_MEMORY_MS = 10 * 60_000;
const FEED = /^[a-z_]{1,20}$/;

/** Time to fetch over REST: trades in [from, to] (both inclusive, as Alpaca's start/end), bars by open time in [from, to). */
interface Window {
  from: number;
  to: number;
  /** Not asked before this instant (REST lag). */
  readyAt: number;
}

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

/** The symbols of one `stream()` call and which of them the plan lets us stream trades for. */
interface Plan {
  symbols: readonly string[];
  byAlpaca: ReadonlyMap<string, string>;
  /** Refused by the symbol limit (405) during this `stream()` call: bars only. */
  limited: Set<string>;
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;
const iso = (ms: number) => new Date(ms).toISOString();
/** Key ids are not secret, but logs need no more than a hint of which key it was. */
const keyHint = (keyId: string) => (keyId.length > 4 ? `${keyId.slice(0, 4)}…` : '…');

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
 * The `alpaca` source: US stock trades and minute bars from Alpaca's market data stream (needs a
 * key; the free plan streams the IEX feed), with REST catch-up.
 *
 * Live: one WebSocket per `stream()` call to `<wsUrl>/<feed>`. The server greets with
 * `[{"T":"success","msg":"connected"}]`, the client authenticates with `{"action":"auth"}`, then
 * subscribes bars and updatedBars for every symbol, then trades (a 405 symbol limit is narrowed
 * down symbol by symbol and the rest are rejected with a reason: they keep their bars). Frames are
 * JSON arrays; numbers are read with lossless-json so prices and sizes keep their decimal text.
 * Trades are emitted in small batches, bars (`b`) and corrected bars (`u`, replacing the minute)
 * as they come. The client pings; silence (no frame, no pong) beyond `staleMs` reopens the
 * connection, with exponential backoff and jitter, longer after auth failures (the secret is
 * never logged) and after 406 (another connection uses the key).
 *
 * No hole: per symbol the newest delivered trade and bar times outlive connections (and `stream()`
 * calls). Once a new connection is subscribed, REST trades are paged from the last delivered trade
 * (less a lookback, for late reports) up to the subscription, and REST bars for the intervals
 * closed meanwhile. Duplicates with the live stream are absorbed by the writer's natural key
 * (source, symbol, ts, trade id) and by bars replacing bars.
 */
export function createAlpacaSource(options: SourceOptions, overrides: Partial<AlpacaSourceOptions> = {}): AlpacaSource {
  const settings = options.settings?.alpaca;
  const staleMs = overrides.staleMs ?? (settings?.staleSeconds ?? ALPACA_DEFAULTS.staleSeconds) * 1000;
  const opts: AlpacaSourceOptions = {
    wsUrl: settings?.wsUrl ?? ALPACA_DEFAULTS.wsUrl,
    restUrl: settings?.restUrl ?? ALPACA_DEFAULTS.restUrl,
    feed: settings?.feed ?? ALPACA_DEFAULTS.feed,
    keyId: settings?.keyId ?? '',
    secretKey: settings?.secretKey ?? '',
    staleMs,
    pingIntervalMs: Math.max(50, Math.min(10_000, Math.floor(staleMs / 3))),
    requestsPerMinute: settings?.requestsPerMinute ?? ALPACA_DEFAULTS.requestsPerMinute,
    maxFutureMs: options.settings?.maxFutureMs ?? 120_000,
    initialBackoffMs: 500,
    maxBackoffMs: 30_000,
    authRetryInitialMs: 10_000,
    authRetryMaxMs: 300_000,
    connectionLimitRetryInitialMs: 30_000,
    connectionLimitRetryMaxMs: 300_000,
    handshakeTimeoutMs: 15_000,
    batchMs: 50,
    batchMaxTrades: 500,
    pageLimit: 10_000,
    catchUpLookbackMs: 90_000,
    catchUpDelayMs: 2_000,
    clockMarginMs: 2_000,
    maxCatchUpMs: 4 * 86_400_000, // a long weekend: a closed market costs no rows, only a request
    barIntervalMs: 60_000,
    maxFrameBytes: MAX_FRAME_BYTES,
    ...overrides,
  };
  const missing = [opts.keyId ? null : 'ALPACA_KEY_ID', opts.secretKey ? null : 'ALPACA_SECRET_KEY'].filter((name): name is string => name !== null);
  if (missing.length > 0) {
    throw new AlpacaConfigError(
      `alpaca source: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set (Alpaca market data needs an API key id and secret; free keys stream the iex feed)`,
    );
  }
  if (!FEED.test(opts.feed)) throw new AlpacaConfigError(`alpaca source: ALPACA_FEED "${opts.feed}" is not a feed name (iex, sip, delayed_sip)`);
  for (const [name, url, protocols] of [['ALPACA_WS_URL', opts.wsUrl, ['ws:', 'wss:']], ['ALPACA_REST_URL', opts.restUrl, ['http:', 'https:']]] as const) {
    let protocol = '';
    try {
      protocol = new URL(url).protocol;
    } catch {
      /* reported below */
    }
    if (!(protocols as readonly string[]).includes(protocol)) throw new AlpacaConfigError(`alpaca source: ${name} "${url}" is not a ${protocols.join(' or ')} URL`);
  }

  const random = opts.random ?? Math.random;
  let logger: SourceLogger | undefined;
  const limiter =
    opts.limiter ?? options.limiter?.('alpaca', { perMinute: opts.requestsPerMinute }) ?? new TokenBucketLimiter({ weightPerMinute: opts.requestsPerMinute });
  const rest = new AlpacaRest({
    baseUrl: opts.restUrl,
    keyId: opts.keyId,
    secretKey: opts.secretKey,
    feed: opts.feed,
    limiter,
    fetch: opts.fetch,
    logger: { info: (o, m) => logger?.info(o, m), warn: (o, m) => logger?.warn(o, m), error: (o, m) => logger?.error(o, m) },
  });
  const streamUrl = `${opts.wsUrl.replace(/\/+$/, '')}/${opts.feed}`;
  const states = new Map<string, SymbolState>();
  const liveBarAt = new Map<string, number>();
  const stats: AlpacaStats = {
    connections: 0,
    reconnects: [],
    staleTerminations: 0,
    authFailures: 0,
    connectionLimitErrors: 0,
    serverErrors: {},
    liveTrades: 0,
    liveBars: 0,
    updatedBars: 0,
    ignoredMessages: 0,
    rejected: 0,
    limitedSymbols: [],
    catchUp: { windows: 0, trades: 0, bars: 0, gaveUp: 0 },
    rest: rest.stats,
  };

  const stateOf = (symbol: string): SymbolState => {
    let state = states.get(symbol);
    if (!state) states.set(symbol, (state = { trades: [], bars: [] }));
    return state;
  };
  const checkContext = (byAlpaca: ReadonlyMap<string, string>): CheckContext => ({
    lookup: (alpacaSymbol) => byAlpaca.get(alpacaSymbol),
    now: Date.now(),
    maxFutureMs: opts.maxFutureMs,
    barIntervalMs: opts.barIntervalMs,
    maxFrameBytes: opts.maxFrameBytes,
  });
  const noteTrade = (symbol: string, timeMs: number) => {
    const state = stateOf(symbol);
    state.lastTradeMs = Math.max(state.lastTradeMs ?? timeMs, timeMs);
  };
  const noteBar = (symbol: string, openMs: number) => {
    const state = stateOf(symbol);
    state.lastBarOpenMs = Math.max(state.lastBarOpenMs ?? openMs, openMs);
  };
  const rememberLiveBar = (symbol: string, openMs: number) => {
    const now = Date.now();
    liveBarAt.set(`${symbol}|${openMs}`, now);
    if (liveBarAt.size > 20_000) {
      for (const [key, at] of liveBarAt) if (now - at > LIVE_BAR_MEMORY_MS) liveBarAt.delete(key);
    }
  };

  /** A catch-up item: a window of trades or of bars. */
  type Pending = { kind: 'trades' | 'bars'; window: Window };

  function addPending(ctx: StreamContext, symbol: string, kind: Pending['kind'], window: Window): void {
    if (window.to - window.from > opts.maxCatchUpMs) {
      const cut = window.to - opts.maxCatchUpMs;
      ctx.logger.warn({ symbol, kind, from: iso(window.from), to: iso(window.to), keptFrom: iso(cut) }, 'Alpaca catch-up window too long; the start is left to gap-fill');
      stats.catchUp.gaveUp++;
      window.from = kind === 'bars' ? floorTo(cut, opts.barIntervalMs) : cut;
    }
    stats.catchUp.windows++;
    addWindow(stateOf(symbol)[kind], window);
  }

  /** REST catch-up of what a connection change missed, bound to one `stream()` call. */
  function catchUpFor(ctx: StreamContext, plan: Plan) {
    const workers = new GapWorkers<Pending>(
      {
        provider: 'Alpaca',
        next: (symbol) => {
          const state = stateOf(symbol);
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
          if (kind === 'trades') await fillTrades(ctx, plan, symbol, window);
          else await fillBars(ctx, plan, symbol, window);
        },
        refused: (error) => error instanceof AlpacaApiError && !(error instanceof AlpacaAuthError) && error.status >= 400 && error.status < 500 && error.status !== 429,
        retryAfter: (error) => (error instanceof AlpacaAuthError ? { initialMs: opts.authRetryInitialMs, maxMs: opts.authRetryMaxMs, loud: true } : CATCH_UP_RETRY),
        settle: (symbol, { kind, window }, how) => {
          const state = stateOf(symbol);
          state.fetchingTrades = undefined;
          if (how === 'refused') stats.catchUp.gaveUp++;
          else if (how !== 'filled') addWindow(state[kind], window); // progress is kept in window.from
        },
        describe: ({ kind, window }) => ({ kind, from: iso(window.from), to: iso(window.to) }),
      },
      ctx.signal,
      ctx.logger,
      random,
    );
    return {
      /** A connection is subscribed since `at`: whatever came before it and was not delivered is fetched. */
      subscribed(at: number): void {
        const readyAt = at + opts.catchUpDelayMs;
        for (const symbol of plan.symbols) {
          const state = stateOf(symbol);
          const since = state.wantedSince ?? at;
          if (!plan.limited.has(symbol)) {
            const from = state.lastTradeMs === undefined ? since : state.lastTradeMs - opts.catchUpLookbackMs;
            addPending(ctx, symbol, 'trades', { from, to: at + opts.clockMarginMs, readyAt });
          }
          // Bars of intervals closed before the subscription; the interval in progress comes live.
          const barTo = floorTo(at, opts.barIntervalMs);
          const barFrom = floorTo((state.lastBarOpenMs ?? since) - opts.catchUpLookbackMs, opts.barIntervalMs);
          if (barTo > barFrom) addPending(ctx, symbol, 'bars', { from: barFrom, to: barTo, readyAt });
          workers.kick(symbol);
        }
      },
      /** Starts workers for windows left over from an earlier `stream()` call. */
      resume(): void {
        for (const symbol of plan.symbols) {
          const state = stateOf(symbol);
          if (state.trades.length > 0 || state.bars.length > 0) workers.kick(symbol);
        }
      },
      stop: () => workers.stop(),
    };
  }
  type CatchUp = ReturnType<typeof catchUpFor>;

  /** Pages REST trades of the window; `window.from` follows the progress so a retry resumes there. */
  async function fillTrades(ctx: StreamContext, plan: Plan, symbol: string, window: Window): Promise<void> {
    let pageToken: string | null = null;
    let fetched = 0;
    // One query, paged with its token; window.from only records progress for a retry.
    const started = window.from;
    const start = iso(window.from);
    const end = iso(window.to);
    do {
      const page = await rest.trades({ symbols: [symbol], start, end, limit: opts.pageLimit, pageToken }, ctx.signal);
      const check = checkContext(plan.byAlpaca);
      const out: Observation[] = [];
      let newest = -Infinity;
      for (const row of page.rows[symbol] ?? []) {
        fetched++;
        const checked = checkTrade(row, check, symbol);
        if (!checked.ok) {
          stats.rejected++;
          ctx.reject(checked.rejection);
          continue;
        }
        out.push(checked.value.observation);
        newest = Math.max(newest, checked.value.timeMs);
      }
      if (out.length > 0) {
        ctx.emit(out);
        stats.catchUp.trades += out.length;
        noteTrade(symbol, newest);
        // Rows come oldest first: everything before `newest` is delivered (trades at `newest` may repeat).
        if (newest > window.from) window.from = newest;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== null && !ctx.signal.aborted);
    ctx.signal.throwIfAborted();
    if (fetched > 0) ctx.logger.info({ symbol, from: iso(started), to: iso(window.to), trades: fetched }, 'caught up Alpaca trades');
  }


  /** Pages REST bars of the window; a bar that came live after the request started is newer and kept. */
  async function fillBars(ctx: StreamContext, plan: Plan, symbol: string, window: Window): Promise<void> {
    let pageToken: string | null = null;
    const start = iso(window.from);
    const end = iso(window.to - 1); // Alpaca's end is inclusive; bars open before window.to
    do {
      const askedAt = Date.now();
      const page = await rest.bars({ symbols: [symbol], start, end, limit: opts.pageLimit, pageToken }, ctx.signal);
      const check = checkContext(plan.byAlpaca);
      const out: SourceBar[] = [];
      let newest = -Infinity;
      for (const row of page.rows[symbol] ?? []) {
        const checked = checkBar(row, check, symbol);
        if (!checked.ok) {
          stats.rejected++;
          ctx.reject(checked.rejection);
          continue;
        }
        const { openMs, bar } = checked.value;
        if (openMs < window.from || openMs >= window.to) continue;
        newest = Math.max(newest, openMs);
        if ((liveBarAt.get(`${symbol}|${openMs}`) ?? -Infinity) >= askedAt) continue;
        out.push(bar);
      }
      if (out.length > 0) {
        ctx.emitBars(out);
        stats.catchUp.bars += out.length;
      }
      if (newest > -Infinity) {
        noteBar(symbol, newest);
        window.from = newest + opts.barIntervalMs;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== null && !ctx.signal.aborted);
    ctx.signal.throwIfAborted();
  }

  function limitSymbols(ctx: StreamContext, plan: Plan, symbols: readonly string[], why: string): void {
    for (const symbol of symbols) {
      if (plan.limited.has(symbol)) continue;
      plan.limited.add(symbol);
      if (!stats.limitedSymbols.includes(symbol)) stats.limitedSymbols.push(symbol);
      ctx.reject({
        symbol,
        reason: 'invalid_symbol',
        detail: `${why}: Alpaca does not stream trades of ${symbol} on this plan (its minute bars still come)`,
        sample: why.slice(0, 200),
      });
    }
    ctx.logger.warn({ symbols, why }, 'Alpaca symbol limit: trades of these symbols are not streamed');
  }

  function connect(ctx: StreamContext, plan: Plan, batcher: Batcher, catchUp: CatchUp, live: (at: number) => void) {
    // Handshake steps: welcome → auth → bars subscribed → trades subscribed (at once, or one by one after a 405) → live.
    let step: 'welcome' | 'auth' | 'bars' | 'trades' | 'trades-one' | 'live' = 'welcome';
    let wanted: string[] = [];
    let queue: string[] = [];
    let asking: string | undefined;
    const send = (session: Session, message: object) => session.send(JSON.stringify(message));
    const goLive = (session: Session) => {
      step = 'live';
      catchUp.subscribed(session.live());
    };
    const subscribeTrades = (session: Session) => {
      wanted = plan.symbols.filter((s) => !plan.limited.has(s));
      if (wanted.length === 0) return goLive(session);
      step = 'trades';
      send(session, { action: 'subscribe', trades: wanted });
    };
    const nextOne = (session: Session) => {
      asking = queue.shift();
      if (asking === undefined) return goLive(session);
      send(session, { action: 'subscribe', trades: [asking] });
    };

    const onControl = (session: Session, message: ControlMessage) => {
      if (message.kind === 'success') {
        if (message.msg === 'connected' && step === 'welcome') {
          step = 'auth';
          send(session, { action: 'auth', key: opts.keyId, secret: opts.secretKey });
        } else if (message.msg === 'authenticated' && step === 'auth') {
          step = 'bars';
          send(session, { action: 'subscribe', bars: [...plan.symbols], updatedBars: [...plan.symbols] });
        }
        return;
      }
      if (message.kind === 'subscription') {
        if (step === 'bars') subscribeTrades(session);
        else if (step === 'trades') {
          const confirmed = new Set(message.trades);
          const unconfirmed = wanted.filter((s) => !confirmed.has(s));
          if (unconfirmed.length > 0) limitSymbols(ctx, plan, unconfirmed, 'trades subscription not confirmed by Alpaca');
          goLive(session);
        } else if (step === 'trades-one') nextOne(session);
        return;
      }
      const code = message.code ?? 0;
      stats.serverErrors[String(code)] = (stats.serverErrors[String(code)] ?? 0) + 1;
      const text = `${message.code ?? '?'} ${message.msg}`;
      if (code === 401 || code === 402 || code === 409) {
        stats.authFailures++;
        session.end('auth-failed', text);
      } else if (code === 406) {
        stats.connectionLimitErrors++;
        session.end('connection-limit', text);
      } else if (code === 405 && step === 'trades') {
        // Over the plan's symbol limit (free: 30 for trades): find out which fit, one at a time.
        step = 'trades-one';
        queue = [...wanted];
        nextOne(session);
      } else if (code === 405 && step === 'trades-one') {
        limitSymbols(ctx, plan, [asking!, ...queue], `Alpaca error ${text}`);
        queue = [];
        goLive(session);
      } else if (code === 404) {
        session.end('error', text); // auth timeout: the server closes
      } else {
        ctx.logger.warn({ code: message.code, msg: message.msg, step }, 'Alpaca stream error message');
      }
    };

    return openSession({
      url: streamUrl,
      signal: ctx.signal,
      stats,
      staleMs: opts.staleMs,
      healthyMs: HEALTHY_CONNECTION_MS,
      // Well above maxFrameBytes: an oversized frame is rejected with a reason, not a dropped socket.
      maxPayload: 4 * opts.maxFrameBytes,
      pingIntervalMs: opts.pingIntervalMs,
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      onLive: live,
      onOpen: () => {},
      onClose: () => batcher.flush(),
      onMessage: (text, bytes, session) => {
        session.delivered();
        const result = parseFrame(text, bytes, checkContext(plan.byAlpaca));
        for (const rejection of result.rejections) {
          stats.rejected++;
          ctx.reject(rejection);
        }
        stats.ignoredMessages += result.ignored;
        for (const trade of result.trades) {
          stats.liveTrades++;
          noteTrade(trade.symbol, trade.timeMs);
          batcher.push(trade.observation);
        }
        if (result.bars.length > 0) {
          for (const bar of result.bars) {
            if (bar.updated) stats.updatedBars++;
            else stats.liveBars++;
            noteBar(bar.symbol, bar.openMs);
            rememberLiveBar(bar.symbol, bar.openMs);
          }
          ctx.emitBars(result.bars.map((b) => b.bar));
        }
        for (const control of result.controls) onControl(session, control);
      },
    });
  }

  function validSymbols(ctx: StreamContext): string[] {
    const symbols: string[] = [];
    for (const symbol of ctx.symbols) {
      try {
        toAlpacaSymbol(symbol);
        if (!symbols.includes(symbol)) symbols.push(symbol);
      } catch (error) {
        if (!(error instanceof AlpacaSymbolError)) throw error;
        ctx.reject({ symbol, reason: 'invalid_symbol', detail: error.message, sample: symbol });
      }
    }
    return symbols;
  }

  return {
    id: 'alpaca',
    assetClass: options.assetClass,
    resumesItself: true,
    stats,

    /**
     * What this process still owes of a symbol, which a restart would lose: trades windows not yet
     * fetched (or being fetched) after a reconnect, and late reports, which arrive up to
     * `catchUpLookbackMs` behind the newest trade (the same lookback the catch-up uses).
     */
    owedSince(symbol: string) {
      const state = states.get(symbol);
      if (!state) return undefined;
      const from = [...state.trades, ...(state.fetchingTrades ? [state.fetchingTrades] : [])].map((w) => w.from);
      if (state.lastTradeMs !== undefined) from.push(state.lastTradeMs - opts.catchUpLookbackMs);
      return from.length > 0 ? Math.min(...from) : undefined;
    },

    async stream(ctx: StreamContext) {
      logger = ctx.logger;
      const symbols = validSymbols(ctx);
      if (symbols.length === 0) return untilAborted(ctx.signal);
      const plan: Plan = { symbols, byAlpaca: new Map(symbols.map((s) => [toAlpacaSymbol(s), s])), limited: new Set() };
      const askedAt = Date.now();
      for (const symbol of symbols) stateOf(symbol).wantedSince ??= askedAt;
      const batcher = new Batcher((batch) => ctx.emit(batch), { maxMs: opts.batchMs, maxTrades: opts.batchMaxTrades });
      const catchUp = catchUpFor(ctx, plan);
      catchUp.resume();
      await reconnectLoop({
        ctx,
        stats,
        random,
        connect: (live) => connect(ctx, plan, batcher, catchUp, live),
        // A wrong key does not fix itself in a second, and another connection may hold the key for long.
        next: (end) =>
          end.reason === 'auth-failed'
            ? { initialMs: opts.authRetryInitialMs, maxMs: opts.authRetryMaxMs }
            : end.reason === 'connection-limit'
              ? { initialMs: opts.connectionLimitRetryInitialMs, maxMs: opts.connectionLimitRetryMaxMs }
              : { initialMs: opts.initialBackoffMs, maxMs: opts.maxBackoffMs },
        onLive: (outage) =>
          outage
            ? ctx.logger.info({ reason: outage.reason, downMs: outage.downMs, symbols: symbols.length, tradesLimited: plan.limited.size }, 'Alpaca stream reconnected')
            : ctx.logger.info({ feed: opts.feed, symbols: symbols.length, tradesLimited: plan.limited.size }, 'Alpaca stream connected'),
        onRetry: (end, retryInMs, attempt) => {
          if (end.reason === 'auth-failed') {
            ctx.logger.error(
              { detail: end.detail, feed: opts.feed, key: keyHint(opts.keyId), retryInMs, attempt },
              'Alpaca refused the credentials on the stream: check ALPACA_KEY_ID and ALPACA_SECRET_KEY (and ALPACA_FEED: the free plan has iex only)',
            );
          } else if (end.reason === 'connection-limit') {
            ctx.logger.error(
              { detail: end.detail, key: keyHint(opts.keyId), retryInMs, attempt },
              'Alpaca connection limit exceeded: another connection uses this key (most plans allow one per feed); waiting before retrying',
            );
          } else ctx.logger.warn({ reason: end.reason, detail: end.detail, retryInMs, attempt }, 'Alpaca stream closed; reconnecting');
        },
      });
      batcher.flush();
      await catchUp.stop();
    },

    async *history({ symbol, from, to, signal }: HistoryRequest) {
      const alpacaSymbol = toAlpacaSymbol(symbol);
      const fromMs = from.getTime();
      const toMs = to.getTime();
      if (toMs <= fromMs) return;
      const byAlpaca = new Map([[alpacaSymbol, symbol]]);
      let pageToken: string | null = null;
      do {
        const page = await rest.trades({ symbols: [alpacaSymbol], start: iso(fromMs), end: iso(toMs), limit: opts.pageLimit, pageToken }, signal);
        const check = checkContext(byAlpaca);
        const out: Observation[] = [];
        for (const row of page.rows[alpacaSymbol] ?? []) {
          const checked = checkTrade(row, check, symbol);
          // history has no reject channel; the pipeline would refuse it anyway. Alpaca's end is inclusive.
          if (checked.ok && checked.value.timeMs >= fromMs && checked.value.timeMs < toMs) out.push(checked.value.observation);
        }
        if (out.length > 0) yield out;
        pageToken = page.nextPageToken;
      } while (pageToken !== null);
    },

    async *bars({ symbol, from, to, signal }: HistoryRequest) {
      const alpacaSymbol = toAlpacaSymbol(symbol);
      const fromMs = from.getTime();
      const toMs = to.getTime();
      if (toMs <= fromMs) return;
      const byAlpaca = new Map([[alpacaSymbol, symbol]]);
      let pageToken: string | null = null;
      do {
        const page = await rest.bars({ symbols: [alpacaSymbol], start: iso(fromMs), end: iso(toMs - 1), limit: opts.pageLimit, pageToken }, signal);
        const check = checkContext(byAlpaca);
        const out: SourceBar[] = [];
        for (const row of page.rows[alpacaSymbol] ?? []) {
          const checked = checkBar(row, check, symbol);
          if (checked.ok && checked.value.openMs >= fromMs && checked.value.openMs < toMs) out.push(checked.value.bar);
        }
        if (out.length > 0) yield out;
        pageToken = page.nextPageToken;
      } while (pageToken !== null);
    },
  };
}

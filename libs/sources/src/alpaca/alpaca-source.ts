import type { HistoryRequest, MarketSource, Observation, SourceBar, SourceOptions, StreamContext } from '../source.js';
import { resumingSource } from '../kit/resuming-source.js';
import { restWiring } from '../kit/rest-wiring.js';
import type { Batcher } from '../kit/batcher.js';
import { emptyStreamStats, streamDefaults, type StreamOptions, type StreamStats } from '../kit/stream-options.js';
import { acceptedSymbols } from '../kit/accepted-symbols.js';
import { streamTrades } from '../kit/trade-stream.js';
import { openSession } from '../kit/ws-session.js';
import { checkBar, checkTrade, MAX_FRAME_BYTES, parseFrame, toIsoMicros, type CheckContext } from './frames.js';
import { AlpacaCatchUp } from './catch-up.js';
import { AlpacaHandshake, type Plan } from './handshake.js';
import { AlpacaRest, type AlpacaRestStats } from './rest.js';
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

export interface AlpacaSourceOptions extends StreamOptions {
  /** Without the feed (`wss://stream.data.alpaca.markets/v2`); the feed is appended. */
  wsUrl: string;
  restUrl: string;
  feed: string;
  keyId: string;
  secretKey: string;
  /**
   * The client pings this often: outside market hours Alpaca sends nothing for hours, and the pongs
   * are what tell a quiet connection from a dead one.
   */
  pingIntervalMs: number;
  /** Historical calls per minute of the in-process limiter (ignored when a limiter is given). */
  requestsPerMinute: number;
  /** After an auth failure (401/402/409): a wrong key does not fix itself in a second, so wait longer. */
  authRetryInitialMs: number;
  authRetryMaxMs: number;
  /** After 406 connection limit exceeded: another connection uses this key; it may hold on for long. */
  connectionLimitRetryInitialMs: number;
  connectionLimitRetryMaxMs: number;
  /** No `authenticated` and subscription within this long after the socket opened: reconnect. */
  handshakeTimeoutMs: number;
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
}

export interface AlpacaStats extends StreamStats {
  authFailures: number;
  connectionLimitErrors: number;
  /** Error messages from the stream by code. */
  serverErrors: Record<string, number>;
  liveBars: number;
  updatedBars: number;
  ignoredMessages: number;
  /** Symbols whose trades the plan's symbol limit (405) refused. */
  limitedSymbols: string[];
  catchUp: { windows: number; trades: number; bars: number; gaveUp: number };
  rest: AlpacaRestStats;
}

export type AlpacaSource = MarketSource & { readonly stats: AlpacaStats };

/** A setting is missing or wrong: thrown at creation, naming the environment variable to fix. */
export class AlpacaConfigError extends Error {}

type StreamCatchUp = ReturnType<AlpacaCatchUp['forStream']>;

// A connection live at least this long resets the reconnect backoff: an endpoint that accepts,
// authenticates and drops at once must not be hammered.
const HEALTHY_CONNECTION_MS = 5_000;
const FEED = /^[a-z_]{1,20}$/;

const iso = (ms: number) => new Date(ms).toISOString();
/** Key ids are not secret, but logs need no more than a hint of which key it was. */
const keyHint = (keyId: string) => (keyId.length > 4 ? `${keyId.slice(0, 4)}…` : '…');

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
  const defaults = streamDefaults(options, settings, ALPACA_DEFAULTS);
  const staleMs = overrides.staleMs ?? defaults.staleMs;
  const opts: AlpacaSourceOptions = {
    ...defaults,
    feed: settings?.feed ?? ALPACA_DEFAULTS.feed,
    keyId: settings?.keyId ?? '',
    secretKey: settings?.secretKey ?? '',
    staleMs,
    pingIntervalMs: Math.max(50, Math.min(10_000, Math.floor(staleMs / 3))),
    requestsPerMinute: settings?.requestsPerMinute ?? ALPACA_DEFAULTS.requestsPerMinute,
    authRetryInitialMs: 10_000,
    authRetryMaxMs: 300_000,
    connectionLimitRetryInitialMs: 30_000,
    connectionLimitRetryMaxMs: 300_000,
    handshakeTimeoutMs: 15_000,
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
  const wiring = restWiring(options, 'alpaca', opts.requestsPerMinute, opts);
  const { logger } = wiring;
  const rest = new AlpacaRest({ ...wiring, baseUrl: opts.restUrl, keyId: opts.keyId, secretKey: opts.secretKey, feed: opts.feed });
  const streamUrl = `${opts.wsUrl.replace(/\/+$/, '')}/${opts.feed}`;
  const stats: AlpacaStats = {
    ...emptyStreamStats(),
    authFailures: 0, connectionLimitErrors: 0, liveBars: 0, updatedBars: 0, ignoredMessages: 0,
    serverErrors: {},
    limitedSymbols: [],
    catchUp: { windows: 0, trades: 0, bars: 0, gaveUp: 0 },
    rest: rest.stats,
  };

  const checkContext = (byAlpaca: ReadonlyMap<string, string>): CheckContext => ({
    lookup: (alpacaSymbol) => byAlpaca.get(alpacaSymbol),
    now: Date.now(),
    maxFutureMs: opts.maxFutureMs,
    barIntervalMs: opts.barIntervalMs,
    maxFrameBytes: opts.maxFrameBytes,
  });
  const catchUp = new AlpacaCatchUp(rest, opts, stats, checkContext, random);

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

  function connect(ctx: StreamContext, plan: Plan, batcher: Batcher, stream: StreamCatchUp, live: (at: number) => void) {
    let handshake: AlpacaHandshake | undefined;
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
      onOpen: (session) => {
        // The server speaks first (`connected`); the handshake answers it.
        handshake = new AlpacaHandshake(plan, opts, stats, {
          send: (message) => session.send(JSON.stringify(message)),
          live: () => stream.subscribed(session.live()),
          limit: (symbols, why) => limitSymbols(ctx, plan, symbols, why),
          end: (reason, detail) => session.end(reason, detail),
          warn: (obj, msg) => ctx.logger.warn(obj, msg),
        });
      },
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
          catchUp.noteTrade(trade.symbol, trade.timeMs);
          batcher.push(trade.observation);
        }
        if (result.bars.length > 0) {
          for (const bar of result.bars) {
            if (bar.updated) stats.updatedBars++;
            else stats.liveBars++;
            catchUp.liveBar(bar.symbol, bar.openMs);
          }
          ctx.emitBars(result.bars.map((b) => b.bar));
        }
        for (const control of result.controls) handshake?.onControl(control);
      },
    });
  }

  return {
    ...resumingSource('alpaca', options),
    stats,

    owedSince: (symbol: string) => catchUp.owedSince(symbol),

    async stream(ctx: StreamContext) {
      // A symbol configured twice is subscribed and caught up once.
      const symbols = [...new Set(acceptedSymbols(ctx, toAlpacaSymbol, (e) => e instanceof AlpacaSymbolError).map(([symbol]) => symbol))];
      const plan: Plan = { symbols, byAlpaca: new Map(symbols.map((s) => [toAlpacaSymbol(s), s])), limited: new Set() };
      const askedAt = Date.now();
      for (const symbol of symbols) catchUp.want(symbol, askedAt);
      await streamTrades(ctx, symbols, { stats, random, opts, logger }, {
        catchUp: () => catchUp.forStream(ctx, plan),
        connect: (batcher, stream, live) => connect(ctx, plan, batcher, stream, live),
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
    },

    async *history({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
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
          if (!checked.ok) refuse?.(checked.rejection);
          // Alpaca's end is inclusive.
          else if (checked.value.timeMs >= fromMs && checked.value.timeMs < toMs) out.push(checked.value.observation);
        }
        if (out.length > 0) yield out;
        pageToken = page.nextPageToken;
      } while (pageToken !== null);
    },

    async *bars({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
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
          if (!checked.ok) refuse?.({ ...checked.rejection, barMinute: minuteOf(row) });
          else if (checked.value.openMs >= fromMs && checked.value.openMs < toMs) out.push(checked.value.bar);
        }
        if (out.length > 0) yield out;
        pageToken = page.nextPageToken;
      } while (pageToken !== null);
    },
  };
}

/** The minute a refused REST bar row stood for, when its time is readable: gap-fill keeps it open. */
function minuteOf(row: unknown): number | null {
  const time = typeof row === 'object' && row !== null ? toIsoMicros((row as { t?: unknown }).t) : null;
  return time && time.ms % 60_000 === 0 ? time.ms : null;
}

import type { AssetClass, RejectReason } from '@tickvault/schema';
import type { RequestWeightLimiter } from './rate-limiter.js';

/** One trade or observation as a source saw it, already in normalized symbol form. */
export interface Observation {
  symbol: string;
  /** UTC ISO-8601, up to microseconds. */
  ts: string;
  /** Decimal strings exactly as the provider sent them. */
  price: string;
  size: string;
  tradeId: string | null;
}

/**
 * A provider's own one-minute bar (Alpaca, Yahoo, Binance klines, Coinbase candles). Where a provider
 * bar holds a minute, it *is* that minute's candle: ticks of the minute are still stored but not folded
 * in again, and a later bar for the same minute (a correction) replaces it.
 */
export interface SourceBar {
  symbol: string;
  /** Minute start, UTC ISO-8601 (`2026-11-20T14:31:00Z` or with `.000`). */
  openTime: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  /** Trades in the minute when the provider says; null when it does not (Yahoo). */
  tradeCount: number | null;
}

export interface SourceRejection {
  symbol: string | null;
  reason: RejectReason;
  detail: string;
  /** The raw input that was refused (cut before it is stored). */
  sample: string;
  /**
   * Set when the input was a row of a provider's bar answer: the minute (epoch ms) it stood for, or
   * null when not even that was readable. Gap-fill keeps such minutes open instead of calling them empty.
   */
  barMinute?: number | null;
}

export interface SourceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StreamContext {
  symbols: readonly string[];
  emit(observations: readonly Observation[]): void;
  /** Provider bars (see SourceBar); a bar for a minute already sent replaces it. */
  emitBars(bars: readonly SourceBar[]): void;
  reject(rejection: SourceRejection): void;
  logger: SourceLogger;
  signal: AbortSignal;
  /** Called each time the source's connection comes back after it was lost (for metrics). */
  onReconnect?(reason: string): void;
  /**
   * The provider is reachable: the stream is open (a polled source: a poll was answered). Called on
   * every (re)connection. With onDisconnected it gives the connection state operators see.
   */
  onConnected?(): void;
  /** The connection was lost or could not be made (a polled source: a poll failed to reach the provider); the source retries by itself. */
  onDisconnected?(reason: string): void;
}

export interface HistoryRequest {
  symbol: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  signal?: AbortSignal;
  /**
   * A row of the provider's answer that is not a valid trade, observation or bar, with its reason
   * (bars() also gives its `barMinute`). Without it such rows are still left out of the pages, but
   * nobody hears of them.
   */
  reject?(rejection: SourceRejection): void;
}

/**
 * A market data provider. `stream` runs until the signal aborts, reconnecting on its own;
 * `history` pages through past data for gap-fill and catch-up. Apps see only this interface,
 * so adding a provider changes no app.
 */
export interface MarketSource {
  readonly id: string;
  readonly assetClass: AssetClass;
  /**
   * True when the source remembers where each symbol's stream stopped and catches up by itself
   * when `stream` runs again (binance: trade ids over REST). The runner then skips its own replay.
   */
  readonly resumesItself?: boolean;
  /**
   * The oldest trade time (ms) of `symbol` that this source still means to deliver by itself (a
   * gap it has not caught up yet, late reports it still expects), or undefined. It lives only in
   * this process: the runner never saves progress past it, so a restart replays from there.
   */
  owedSince?(symbol: string): number | undefined;
  stream(ctx: StreamContext): Promise<void>;
  /** Past trades (or observations) in [from, to): used to replay a hand-over or a restart. */
  history(request: HistoryRequest): AsyncIterable<readonly Observation[]>;
  /**
   * The provider's one-minute bars in [from, to), oldest first, in pages: what gap-fill uses, since
   * re-reading days of trades would cost far more of a provider's rate limit. Macro sources have no bars.
   */
  bars?(request: HistoryRequest): AsyncIterable<readonly SourceBar[]>;
}

/**
 * Provider settings, filled by the ingest service from its configuration: sources never read the
 * environment. Each provider has its own optional block; missing values take the provider's defaults.
 */
export interface SourceSettings {
  /** Trades stamped further ahead of the clock than this are refused at the source (ms). */
  maxFutureMs?: number;
  binance?: {
    wsUrl?: string;
    restUrl?: string;
    staleSeconds?: number;
    weightPerMinute?: number;
  };
  coinbase?: {
    wsUrl?: string;
    restUrl?: string;
    staleSeconds?: number;
    requestsPerMinute?: number;
  };
  alpaca?: {
    wsUrl?: string;
    restUrl?: string;
    /** iex (free plan), sip or delayed_sip; appended to wsUrl as in Alpaca's docs. */
    feed?: string;
    keyId?: string;
    secretKey?: string;
    staleSeconds?: number;
    requestsPerMinute?: number;
  };
  yahoo?: {
    chartUrl?: string;
    pollSeconds?: number;
    requestsPerMinute?: number;
  };
  fred?: {
    apiUrl?: string;
    graphUrl?: string;
    /** With a key the JSON observations API is used, without one the keyless fredgraph CSV. */
    apiKey?: string;
    pollSeconds?: number;
    requestsPerMinute?: number;
  };
}

export interface SourceOptions {
  assetClass: AssetClass;
  seed: number;
  settings?: SourceSettings;
  /**
   * The request budget of a provider, shared by every replica when the ingest service backs it with
   * Redis. `key` names the budget (one per provider and credential/IP); sources fall back to an
   * in-process TokenBucketLimiter when this is absent (tests, single process).
   */
  limiter?(key: string, budget: { perMinute: number }): RequestWeightLimiter;
}

export interface SourceDefinition {
  id: string;
  assetClasses: readonly AssetClass[];
  create(options: SourceOptions): MarketSource;
}

import type { AssetClass, RejectReason } from '@tickvault/schema';

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

export interface SourceRejection {
  symbol: string | null;
  reason: RejectReason;
  detail: string;
  /** The raw input that was refused (cut before it is stored). */
  sample: string;
}

export interface SourceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StreamContext {
  symbols: readonly string[];
  emit(observations: readonly Observation[]): void;
  reject(rejection: SourceRejection): void;
  logger: SourceLogger;
  signal: AbortSignal;
  /** Called each time the source's connection comes back after it was lost (for metrics). */
  onReconnect?(reason: string): void;
}

export interface HistoryRequest {
  symbol: string;
  from: Date;
  to: Date;
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
  stream(ctx: StreamContext): Promise<void>;
  history(request: HistoryRequest): AsyncIterable<readonly Observation[]>;
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
}

export interface SourceOptions {
  assetClass: AssetClass;
  seed: number;
  settings?: SourceSettings;
}

export interface SourceDefinition {
  id: string;
  assetClasses: readonly AssetClass[];
  create(options: SourceOptions): MarketSource;
}

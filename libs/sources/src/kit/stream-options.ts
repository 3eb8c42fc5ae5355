import type { RequestWeightLimiter } from '../rate-limiter.js';
import type { SourceOptions } from '../source.js';
import type { ConnectionStats } from './ws-session.js';

/** Settings every streaming provider has; each provider's options extend these with its own. */
export interface StreamOptions {
  /** A connection silent this long (no frame, ping or pong) is terminated and reopened. */
  staleMs: number;
  /** Trades stamped further ahead of the clock are rejected (`future_timestamp`). */
  maxFutureMs: number;
  /** Reconnect backoff after a drop: first delay (with jitter) and cap. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Live trades are emitted in batches: at most this long after the first one, or this many. */
  batchMs: number;
  batchMaxTrades: number;
  limiter?: RequestWeightLimiter;
  fetch?: typeof fetch;
  random?: () => number;
}

/** Counters every streaming provider reports; each provider's stats extend these with its own. */
export interface StreamStats extends ConnectionStats {
  liveTrades: number;
  rejected: number;
}

/** Future-stamp tolerance when the settings name none: two minutes of clock skew between us and a provider. */
export const futureToleranceMs = (options: SourceOptions): number => options.settings?.maxFutureMs ?? 120_000;

/** What a streaming provider's settings may set; the rest of its options are its own. */
export interface StreamSettings {
  wsUrl?: string;
  restUrl?: string;
  staleSeconds?: number;
}

/**
 * Where every streaming provider's options start: its endpoints and silence limit from its settings
 * (else its defaults), and the shared backoff and batching; its own defaults and the overrides come after.
 */
export function streamDefaults(
  options: SourceOptions,
  settings: StreamSettings | undefined,
  defaults: Required<StreamSettings>,
): Omit<StreamOptions, 'limiter' | 'fetch' | 'random'> & { wsUrl: string; restUrl: string } {
  return {
    wsUrl: settings?.wsUrl ?? defaults.wsUrl,
    restUrl: settings?.restUrl ?? defaults.restUrl,
    staleMs: (settings?.staleSeconds ?? defaults.staleSeconds) * 1000,
    maxFutureMs: futureToleranceMs(options),
    initialBackoffMs: 500,
    maxBackoffMs: 30_000,
    batchMs: 50,
    batchMaxTrades: 500,
  };
}

/** The counters of `StreamStats` at zero, for a provider's stats to start from. */
export const emptyStreamStats = (): StreamStats => ({ connections: 0, reconnects: [], staleTerminations: 0, liveTrades: 0, rejected: 0 });

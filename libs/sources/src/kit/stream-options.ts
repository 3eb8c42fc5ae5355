import type { RequestWeightLimiter } from '../rate-limiter.js';
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

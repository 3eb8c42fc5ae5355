import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../backoff.js';
import type { StreamContext } from '../source.js';
import type { ConnectionStats, SessionEnd } from './ws-session.js';

export interface BackoffRange {
  initialMs: number;
  maxMs: number;
}

/** After a session ended: wait within this range, come back at once (a planned close), or stop trying. */
export type NextAttempt = BackoffRange | 'at-once' | 'give-up';

/** An outage: from the first lost connection until one is live again, whatever failed in between. */
export interface Outage {
  /** Why the last connection attempt of the outage ended. */
  reason: string;
  downMs: number;
}

export interface ReconnectOptions {
  ctx: Pick<StreamContext, 'signal' | 'onConnected' | 'onReconnect' | 'onDisconnected'>;
  stats: ConnectionStats;
  /** One connection attempt; calls `live` when data flows (the session's onLive). */
  connect(live: (at: number) => void): Promise<SessionEnd>;
  /** Decided by close reason; `give-up` makes the loop wait for the stop signal (the provider logs why). */
  next(end: SessionEnd): NextAttempt;
  /** Live: the first time (no outage) or after an outage. For the provider's log line. */
  onLive(outage: Outage | undefined): void;
  /** A session ended and the next attempt is `retryInMs` away. For the provider's log line. */
  onRetry(end: SessionEnd, retryInMs: number, attempt: number): void;
  random?: () => number;
}

// Reconnects kept in stats: enough to read a flapping pattern, bounded for a process that runs for months.
const RECONNECTS_KEPT = 100;

export const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

/**
 * Connects until the stop signal, backing off by close reason. Only a healthy connection resets the
 * backoff: an endpoint that accepts and drops at once must not be hammered (Binance bans an IP past
 * 300 connections per 5 minutes). An outage starts at the first loss and ends when a connection is
 * live again: failed attempts in between do not restart it, so `downMs` is the whole time without data.
 */
export async function reconnectLoop(options: ReconnectOptions): Promise<void> {
  const { ctx, stats } = options;
  let attempt = 0;
  let down: { since: number; reason: string } | undefined;
  const live = (at: number) => {
    ctx.onConnected?.();
    if (down) {
      const outage = { reason: down.reason, downMs: at - down.since };
      stats.reconnects.push(outage);
      if (stats.reconnects.length > RECONNECTS_KEPT) stats.reconnects.shift();
      ctx.onReconnect?.(down.reason);
      options.onLive(outage);
    } else options.onLive(undefined);
    down = undefined;
  };
  while (!ctx.signal.aborted) {
    const end = await options.connect(live);
    if (ctx.signal.aborted || end.reason === 'aborted') break;
    const next = options.next(end);
    if (next === 'give-up') {
      await untilAborted(ctx.signal);
      break;
    }
    down = { since: down?.since ?? Date.now(), reason: end.reason };
    ctx.onDisconnected?.(end.detail ? `${end.reason}: ${end.detail}` : end.reason);
    if (end.healthy) attempt = 0;
    const delayMs = next === 'at-once' ? 0 : backoffDelay(attempt++, next.initialMs, next.maxMs, options.random);
    options.onRetry(end, delayMs, attempt);
    if (delayMs > 0) await sleep(delayMs, undefined, { signal: ctx.signal }).catch(() => {});
  }
}

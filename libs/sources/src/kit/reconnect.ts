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
  /** Of downMs, how long the loop chose to wait (backoff) rather than spent failing: 0 for a planned reconnect. */
  backoffMs: number;
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
 * The one definition of an outage, for streams and polls alike: it starts at the first lost
 * connection (or failed poll) and ends when data flows again; failures in between do not restart it,
 * so `downMs` is the whole time without data, and its reason is the last failure's.
 */
export class OutageClock {
  private down: { since: number; reason: string; backoffMs: number } | undefined;

  constructor(
    private readonly ctx: Pick<StreamContext, 'onConnected' | 'onReconnect' | 'onDisconnected'>,
    // The polled sources' stats declare outages without backoffMs (nothing of theirs reads it); it is still recorded.
    private readonly stats: { reconnects: { reason: string; downMs: number }[] },
  ) {}

  /** A connection was lost or a poll failed; `detail` is what operators see (default: the reason). */
  lost(reason: string, detail: string = reason, at: number = Date.now()): void {
    this.down = { since: this.down?.since ?? at, reason, backoffMs: this.down?.backoffMs ?? 0 };
    this.ctx.onDisconnected?.(detail);
  }

  /** The loop is about to wait `ms` before its next attempt (after lost()). */
  backingOff(ms: number): void {
    if (this.down) this.down.backoffMs += ms;
  }

  /** Data flows: the outage that this ends, if there was one. */
  live(at: number = Date.now()): Outage | undefined {
    this.ctx.onConnected?.();
    const down = this.down;
    this.down = undefined;
    if (!down) return undefined;
    const outage = { reason: down.reason, downMs: at - down.since, backoffMs: down.backoffMs };
    this.stats.reconnects.push(outage);
    if (this.stats.reconnects.length > RECONNECTS_KEPT) this.stats.reconnects.shift();
    this.ctx.onReconnect?.(down.reason);
    return outage;
  }
}

/**
 * Connects until the stop signal, backing off by close reason. Only a healthy connection resets the
 * backoff: an endpoint that accepts and drops at once must not be hammered (Binance bans an IP past
 * 300 connections per 5 minutes). Outages are measured by OutageClock.
 */
export async function reconnectLoop(options: ReconnectOptions): Promise<void> {
  const { ctx, stats } = options;
  let attempt = 0;
  const clock = new OutageClock(ctx, stats);
  const live = (at: number) => options.onLive(clock.live(at));
  while (!ctx.signal.aborted) {
    const end = await options.connect(live);
    if (ctx.signal.aborted || end.reason === 'aborted') break;
    const next = options.next(end);
    if (next === 'give-up') {
      await untilAborted(ctx.signal);
      break;
    }
    clock.lost(end.reason, end.detail ? `${end.reason}: ${end.detail}` : end.reason);
    if (end.healthy) attempt = 0;
    const delayMs = next === 'at-once' ? 0 : backoffDelay(attempt++, next.initialMs, next.maxMs, options.random);
    options.onRetry(end, delayMs, attempt);
    clock.backingOff(delayMs);
    if (delayMs > 0) await sleep(delayMs, undefined, { signal: ctx.signal }).catch(() => {});
  }
}

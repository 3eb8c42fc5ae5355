import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { untilAborted } from './reconnect.js';

/**
 * The loop of a polled source: a step (a round, or nothing when none is due) says how long to wait
 * before the next, or `stop` when the stream was stopped during it. With nothing left to poll (every
 * symbol refused) the stream still runs until it is stopped, like any other.
 */
export async function pollUntilStopped(signal: AbortSignal, hasWork: () => boolean, step: () => Promise<number | 'stop'>): Promise<void> {
  while (!signal.aborted && hasWork()) {
    const delayMs = await step();
    if (delayMs === 'stop') break;
    await sleep(delayMs, undefined, { signal }).catch(() => {});
  }
  await untilAborted(signal);
}

export interface RoundOptions<T> {
  signal: AbortSignal;
  poll(item: T): Promise<void>;
  /** The provider's own verdict on a failed request: go on with the next item, end the round with it, or neither. */
  judge(error: unknown, item: T): 'next' | 'end' | undefined;
  transient(error: unknown): boolean;
  /** A permanent refusal of one item's request that the provider did not judge: the round goes on. */
  refused(error: Error, item: T): void;
}

/**
 * One round over the active items (series, symbols), polled in turn. A transient failure (network,
 * timeout, a long 429) ends the round with its error, since the others would fail the same way; a
 * permanent refusal skips its item until the next round. A stop ends the round quietly.
 */
export async function pollRound<T>(items: Iterable<T>, o: RoundOptions<T>): Promise<Error | undefined> {
  for (const item of items) {
    if (o.signal.aborted) return undefined;
    try {
      await o.poll(item);
    } catch (error) {
      if (o.signal.aborted) return undefined;
      const verdict = o.judge(error, item);
      if (verdict === 'next') continue;
      if (verdict === 'end' || o.transient(error)) return error as Error;
      o.refused(error as Error, item);
    }
  }
  return undefined;
}

/** What every polled source is tuned by: its backoff after a failed round, and its REST client's limits. */
export interface PolledSourceTuning {
  /** Backoff after a failed poll: first delay (with jitter) and cap. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Whole request, body included. */
  timeoutMs: number;
  /** 429 without Retry-After: pause at least this long (the provider's policy says how much longer). */
  defaultRetryAfterMs: number;
  /** A longer Retry-After fails the poll (the pause stays in the limiter) instead of waiting in it. */
  maxRetryWaitMs: number;
  /** history() and bars() try a request this many times in all before they throw. */
  maxAttempts: number;
  limiter?: RequestWeightLimiter;
  fetch?: typeof fetch;
  random?: () => number;
}

/** The counters every polled source keeps. */
export interface PollStats {
  /** Poll rounds over all active items. */
  rounds: number;
  failedRounds: number;
  /** Each recovery: why polls failed and for how long. */
  reconnects: { reason: string; downMs: number }[];
}

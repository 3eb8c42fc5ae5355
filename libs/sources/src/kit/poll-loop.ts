import { setTimeout as sleep } from 'node:timers/promises';
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

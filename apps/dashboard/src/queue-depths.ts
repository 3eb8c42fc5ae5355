import { withDeadline } from '@tickvault/db';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

interface CountableQueue {
  name: string;
  getJobCounts(...states: (typeof STATES)[number][]): Promise<Record<string, number>>;
}

/**
 * The /metrics hook that reads every queue's job counts from Redis into `tickvault_queue_jobs`.
 * A scrape must answer when Redis does not: after `deadlineMs` the gauges keep their last values
 * (stale, never invented) and `onFailure` hears why. One read at a time: a scrape that arrives while
 * an earlier read still waits on a stalled Redis waits for that read (with its own deadline) instead
 * of queueing more commands behind it, so scrapes during a stall add nothing to the client's queue.
 */
export function queueDepthRefresher(options: {
  queues: readonly CountableQueue[];
  /** tickvault_queue_jobs. */
  gauge: { set(labels: { queue: string; state: string }, value: number): void };
  deadlineMs: number;
  onFailure: (error: unknown) => void;
}): () => Promise<void> {
  let reading: Promise<void> | undefined;
  const read = async () => {
    const counts = await Promise.all(options.queues.map((queue) => queue.getJobCounts(...STATES)));
    options.queues.forEach((queue, i) => {
      for (const [state, count] of Object.entries(counts[i] ?? {})) options.gauge.set({ queue: queue.name, state }, count);
    });
  };
  return async () => {
    reading ??= read().finally(() => {
      reading = undefined;
    });
    try {
      await withDeadline(reading, options.deadlineMs, 'queue depth refresh');
    } catch (error) {
      options.onFailure(error);
    }
  };
}

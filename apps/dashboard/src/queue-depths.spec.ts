import { describe, expect, it } from 'vitest';
import { queueDepthRefresher } from './queue-depths.js';

/** A queue whose Redis answers when the test says so, counting the reads it was asked for. */
function controlledQueue(name: string) {
  const pending: ((counts: Record<string, number>) => void)[] = [];
  return {
    name,
    reads: 0,
    getJobCounts(): Promise<Record<string, number>> {
      this.reads += 1;
      return new Promise((resolve) => pending.push(resolve));
    },
    answer(counts: Record<string, number>) {
      for (const resolve of pending.splice(0)) resolve(counts);
    },
  };
}

function recordingGauge() {
  const values = new Map<string, number>();
  return { values, set: (labels: { queue: string; state: string }, value: number) => values.set(`${labels.queue}/${labels.state}`, value) };
}

describe('queueDepthRefresher', () => {
  it('sets every queue and state it read', async () => {
    const ticks = controlledQueue('ticks');
    const events = controlledQueue('events');
    const gauge = recordingGauge();
    const failures: unknown[] = [];
    const refresh = queueDepthRefresher({ queues: [ticks, events], gauge, deadlineMs: 60_000, onFailure: (e) => failures.push(e) });
    const done = refresh();
    ticks.answer({ waiting: 3, failed: 1 });
    events.answer({ waiting: 0 });
    await done;
    expect(Object.fromEntries(gauge.values)).toEqual({ 'ticks/waiting': 3, 'ticks/failed': 1, 'events/waiting': 0 });
    expect(failures).toEqual([]);
  });

  it('gives up at the deadline keeping the last values, and does not read again while a read is stuck', async () => {
    const ticks = controlledQueue('ticks');
    const gauge = recordingGauge();
    const failures: unknown[] = [];
    const refresh = queueDepthRefresher({ queues: [ticks], gauge, deadlineMs: 20, onFailure: (e) => failures.push(e) });
    const first = refresh();
    ticks.answer({ waiting: 5 });
    await first;

    // Redis stops answering: each scrape still returns, with the old value and a failure reported.
    await refresh();
    await refresh();
    expect(failures).toHaveLength(2);
    expect(String(failures[0])).toMatch(/queue depth refresh took longer than 20 ms/);
    expect(gauge.values.get('ticks/waiting')).toBe(5);
    expect(ticks.reads, 'the second scrape waited on the stuck read instead of sending another').toBe(2);

    // Redis answers the stuck read late: its values land, and the next scrape reads anew.
    ticks.answer({ waiting: 7 });
    await new Promise((resolve) => setImmediate(resolve)); // after every pending microtask
    expect(gauge.values.get('ticks/waiting')).toBe(7);
    const next = refresh();
    ticks.answer({ waiting: 8 });
    await next;
    expect(ticks.reads).toBe(3);
    expect(gauge.values.get('ticks/waiting')).toBe(8);
  });
});

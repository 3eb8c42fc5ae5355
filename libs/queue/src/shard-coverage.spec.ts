import { describe, expect, it } from 'vitest';
import { ORPHAN_GRACE_MS, OrphanTracker, orphanedShardsNow, unconsumedShards } from './shard-coverage.js';
import type { ServiceEntry } from './service-registry.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');

function entry(service: string, startedAt: number, extra: Partial<ServiceEntry>): ServiceEntry {
  const at = new Date(startedAt).toISOString();
  return { v: 1, id: `${service}-${startedAt}`, service, host: 'h', pid: 1, version: '1', environment: 'test', startedAt: at, heartbeatAt: at, queues: [], ...extra };
}
const writer = (shards: number[], startedAt = T0) => entry('writer', startedAt, { writer: { shards } });
const ingest = (shards: number) => entry('ingest-crypto', T0, { ingest: { assetClass: 'crypto', symbols: [], shards, sources: [] } });

describe('shard coverage', () => {
  it('lists the shards no writer consumes, counting the shards registered producers route to', () => {
    expect(unconsumedShards([writer([0, 1]), writer([3])], 4)).toEqual([2]);
    expect(unconsumedShards([writer([0, 1, 2, 3])], 4)).toEqual([]);
    // An ingest process spreading over 6 shards while this reader knows 4.
    expect(unconsumedShards([writer([0, 1, 2, 3]), ingest(6)], 4)).toEqual([4, 5]);
    expect(unconsumedShards([], 2)).toEqual([0, 1]);
  });

  it('for one look: nothing before the writers have had a registry TTL, nothing with no writer at all', () => {
    const services = [writer([0], T0), writer([1], T0 + 5_000)];
    expect(orphanedShardsNow(services, 3, T0 + ORPHAN_GRACE_MS - 1)).toEqual([]);
    expect(orphanedShardsNow(services, 3, T0 + ORPHAN_GRACE_MS)).toEqual([2]);
    expect(orphanedShardsNow([ingest(3)], 3, T0 + 10 * ORPHAN_GRACE_MS)).toEqual([]);
  });

  it('repeated looks: orphaned after the grace without a break, reported once, and recovered', () => {
    const tracker = new OrphanTracker(30_000);
    expect(tracker.observe([2], T0)).toEqual({ orphaned: [], newly: [], recovered: [] });
    expect(tracker.observe([2], T0 + 29_999)).toEqual({ orphaned: [], newly: [], recovered: [] });
    expect(tracker.observe([2, 3], T0 + 30_000)).toEqual({ orphaned: [2], newly: [2], recovered: [] });
    expect(tracker.observe([2, 3], T0 + 60_000)).toEqual({ orphaned: [2, 3], newly: [3], recovered: [] });
    expect(tracker.observe([3], T0 + 70_000)).toEqual({ orphaned: [3], newly: [], recovered: [2] });
    // A shard consumed again before the grace ends was never reported: nothing to recover.
    expect(tracker.observe([3, 1], T0 + 80_000)).toEqual({ orphaned: [3], newly: [], recovered: [] });
    expect(tracker.observe([3], T0 + 90_000)).toEqual({ orphaned: [3], newly: [], recovered: [] });
    // Gone for one look restarts the clock.
    expect(tracker.observe([1], T0 + 100_000)).toEqual({ orphaned: [], newly: [], recovered: [3] });
    expect(tracker.unconsumedSince(1)).toBe(T0 + 100_000);
  });

  it('a look that could not report takes nothing as said: the next one reports it again', () => {
    const tracker = new OrphanTracker(30_000);
    tracker.observe([2], T0);
    const first = tracker.observe([2], T0 + 30_000);
    expect(first.newly).toEqual([2]);
    tracker.retract(first.newly, first.recovered);
    expect(tracker.observe([2], T0 + 40_000)).toEqual({ orphaned: [2], newly: [2], recovered: [] });
    const back = tracker.observe([], T0 + 50_000);
    expect(back.recovered).toEqual([2]);
    tracker.retract(back.newly, back.recovered);
    expect(tracker.observe([], T0 + 60_000)).toEqual({ orphaned: [], newly: [], recovered: [2] });
    expect(tracker.observe([], T0 + 70_000)).toEqual({ orphaned: [], newly: [], recovered: [] });
    // Owed, but unconsumed again by the next look: no recovery to report.
    tracker.observe([4], T0 + 80_000);
    tracker.observe([4], T0 + 110_000);
    const gone = tracker.observe([], T0 + 120_000);
    tracker.retract(gone.newly, gone.recovered);
    expect(tracker.observe([4], T0 + 130_000).recovered).toEqual([]);
  });
});

import { Queue } from 'bullmq';
import { tickShards } from '@tickvault/schema';
import type { RedisClient } from './connection.js';
import { SERVICE_ENTRY_TTL_MS, type ServiceEntry } from './service-registry.js';

/**
 * Which tick shards no live writer consumes, from the service registry. Writers may own a subset of
 * the shards (WRITER_SHARDS), so a shard can be left without a consumer: its jobs would wait unseen.
 */

// A shard is called orphaned only after it has had no consumer for one registry TTL: a crashed writer's
// entry lingers that long and a restarted one registers within a heartbeat, so a shorter gap is a
// restart or a staggered start in progress, not a missing owner.
export const ORPHAN_GRACE_MS = SERVICE_ENTRY_TTL_MS;

// While a shard stays orphaned, at most one `orphaned_shard` event per shard in this long, whichever
// writers (and the scheduler's health check) find it: a reminder in the event list, not a row per look.
export const ORPHAN_EVENT_WINDOW_MS = 10 * 60_000;

/** The dedupe key of an `orphaned_shard` event (or `orphaned_shard_consumed`), shared by every process that records one. */
export function orphanedShardEventKey(kind: 'orphaned_shard' | 'orphaned_shard_consumed', prefix: string, shard: number, now: number): string {
  return `${kind}:${prefix}:${shard}:${Math.floor(now / ORPHAN_EVENT_WINDOW_MS)}`;
}

/**
 * The shards producers may route to: 0..n-1, n being the larger of `shardCount` (the reader's own
 * TICK_QUEUE_SHARDS) and what every registered ingest process says it spreads over.
 */
export function expectedShardCount(services: readonly ServiceEntry[], shardCount: number): number {
  return Math.max(shardCount, ...services.map((s) => s.ingest?.shards ?? 0));
}

/** Shard indexes (ascending) that no registered writer lists, among the expected ones. */
export function unconsumedShards(services: readonly ServiceEntry[], shardCount: number): number[] {
  const consumed = new Set(services.flatMap((s) => s.writer?.shards ?? []));
  const out: number[] = [];
  for (let i = 0; i < expectedShardCount(services, shardCount); i++) if (!consumed.has(i)) out.push(i);
  return out;
}

/**
 * For a reader that looks once (report, doctor, the status page): the unconsumed shards, once the
 * stack's writers have had a registry TTL to register. With no writer registered at all this is empty:
 * that is its own, louder warning (nothing is written).
 */
export function orphanedShardsNow(services: readonly ServiceEntry[], shardCount: number, now: number): number[] {
  const writers = services.filter((s) => s.writer);
  if (writers.length === 0) return [];
  const oldest = Math.min(...writers.map((s) => Date.parse(s.startedAt)));
  if (!(now - oldest >= ORPHAN_GRACE_MS)) return [];
  return unconsumedShards(services, shardCount);
}

/**
 * For a process that looks repeatedly (the writer): a shard is orphaned once every look for at
 * least `graceMs` found it unconsumed. Memory is bounded by the shard count.
 */
export class OrphanTracker {
  private readonly since = new Map<number, number>();
  private readonly reported = new Set<number>();
  /** Recoveries a failed look could not report: reported by the next look unless the shard is unconsumed again. */
  private readonly recoveriesOwed = new Set<number>();

  constructor(private readonly graceMs = ORPHAN_GRACE_MS) {}

  /** Records one look; returns the orphaned shards now, those that became so, and those consumed again. */
  observe(unconsumed: readonly number[], now: number): { orphaned: number[]; newly: number[]; recovered: number[] } {
    const current = new Set(unconsumed);
    const recovered = [...this.recoveriesOwed].filter((shard) => !current.has(shard));
    this.recoveriesOwed.clear();
    for (const shard of [...this.since.keys()]) {
      if (current.has(shard)) continue;
      this.since.delete(shard);
      if (this.reported.delete(shard)) recovered.push(shard);
    }
    const orphaned: number[] = [];
    const newly: number[] = [];
    for (const shard of current) {
      const since = this.since.get(shard) ?? now;
      this.since.set(shard, since);
      if (now - since < this.graceMs) continue;
      orphaned.push(shard);
      if (!this.reported.has(shard)) {
        this.reported.add(shard);
        newly.push(shard);
      }
    }
    const asc = (a: number, b: number) => a - b;
    return { orphaned: orphaned.sort(asc), newly: newly.sort(asc), recovered: recovered.sort(asc) };
  }

  /**
   * The look that returned `newly` and `recovered` could not report them (Redis or Postgres failed on
   * the way): the next look reports them again instead of taking them as already said.
   */
  retract(newly: readonly number[], recovered: readonly number[]): void {
    for (const shard of newly) this.reported.delete(shard);
    for (const shard of recovered) this.recoveriesOwed.add(shard);
  }

  /** When `shard` was first seen unconsumed in the current stretch, if it is. */
  unconsumedSince(shard: number): number | undefined {
    return this.since.get(shard);
  }
}

/** Jobs waiting in tick shard `index` (waiting, delayed, prioritized): what an orphaned shard holds back. */
export async function shardPendingJobs(redis: RedisClient, prefix: string, index: number): Promise<number> {
  const shard = tickShards(prefix, index + 1)[index]!;
  const queue = new Queue(shard.name, { connection: redis, prefix: shard.prefix });
  // Without a listener BullMQ prints a connection error as a raw stack trace; the caller reports the failure.
  queue.on('error', () => {});
  try {
    const counts = await queue.getJobCounts('waiting', 'delayed', 'prioritized');
    return Object.values(counts).reduce((n, c) => n + (c ?? 0), 0);
  } finally {
    await queue.close();
  }
}

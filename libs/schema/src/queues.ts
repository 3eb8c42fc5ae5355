import { z } from 'zod';
import { RejectReasonSchema } from './tick.js';

/**
 * Queue names are persisted in Redis keys: renaming one strands its jobs. Change only with a migration plan.
 * The prefix is a Redis Cluster hash tag so every key of a queue lands in one slot.
 */
export const QUEUE_NAMES = Object.freeze({
  ticks: 'ticks',
  events: 'events',
  /** Scheduled jobs (gap-fill, health) run by the scheduler service. */
  maintenance: 'maintenance',
});
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export const DEFAULT_QUEUE_PREFIX = '{tickvault}';

/**
 * The tick queue can be split into shards so one queue (one Redis Cluster slot, one Lua-serialized
 * list) is never the ceiling. Shard 0 is the `ticks` queue under the configured prefix, so a single
 * shard is exactly the unsharded layout; shard i > 0 is `ticks-i` under its own hash tag
 * (`{tickvault}` → `{tickvault-s1}`), which Redis Cluster places in another slot.
 */
export interface TickShard {
  index: number;
  name: string;
  prefix: string;
}

export function tickShards(prefix: string, count: number): TickShard[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    name: index === 0 ? 'ticks' : `ticks-${index}`,
    prefix: index === 0 ? prefix : prefix.replace(/\}$/, `-s${index}}`),
  }));
}

/** The shard a series' ticks go to: stable across processes and restarts (FNV-1a of source/symbol). */
export function shardOf(source: string, symbol: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (const ch of `${source}/${symbol}`) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

export const JOB_NAMES = Object.freeze({
  tickBatch: 'tick-batch',
  systemEvent: 'system-event',
  gapFill: 'gap-fill',
  health: 'health',
  backfill: 'backfill',
});

/**
 * One backfill queue per source, so a provider's history requests are processed by the ingest service
 * that runs it, and a provider that throttles holds up only its own queue.
 */
export function backfillQueueName(source: string): string {
  return `backfill-${source}`;
}

/** The largest tick batch one job may carry: bigger jobs are slow Lua calls and long locks. */
export const MAX_TICKS_PER_JOB = 5000;
/** Raw samples of bad input are cut to this many characters before they are queued or stored. */
export const MAX_SAMPLE_CHARS = 2000;

/**
 * Makes free text storable in PostgreSQL, whose text type cannot hold U+0000: raw samples of hostile
 * input may contain it, and a rejection must never fail the job that carries valid ticks.
 */
export function storableText(text: string, maxLength: number): string {
  const clean = text.replace(/\u0000/g, '\\u0000');
  return clean.length > maxLength ? `${clean.slice(0, maxLength - 3)}...` : clean;
}

/** Input refused before it was queued (by an ingest service), carried to the writer to be recorded. */
export const RejectedInputSchema = z.object({
  source: z.string().max(64),
  symbol: z.string().max(64).nullable(),
  reason: RejectReasonSchema,
  detail: z.string().max(1000),
  sample: z.string().max(MAX_SAMPLE_CHARS),
  observedAt: z.string(),
});
export type RejectedInput = z.infer<typeof RejectedInputSchema>;

/**
 * Ticks stay `unknown` in the envelope: each is validated on its own by the writer,
 * so one bad tick is rejected with its reason and never sinks the rest of the job.
 */
export const TickBatchJobSchema = z.object({
  v: z.literal(1),
  producer: z.string().min(1).max(64),
  /** The producer's DATA_ENVIRONMENT: the writer refuses jobs of another one (jobs queued before this field existed have none). */
  env: z.enum(['live', 'demo', 'test']).optional(),
  ticks: z.array(z.unknown()).max(MAX_TICKS_PER_JOB),
  /** Provider one-minute bars (validated one by one, like ticks). Absent in jobs from before bars existed. */
  bars: z.array(z.unknown()).max(MAX_TICKS_PER_JOB).default([]),
  rejected: z.array(RejectedInputSchema).max(MAX_TICKS_PER_JOB).default([]),
});
export type TickBatchJob = z.input<typeof TickBatchJobSchema>;

export const SystemEventSchema = z.object({
  ts: z.string(),
  service: z.string().min(1).max(64),
  kind: z.string().min(1).max(64),
  symbol: z.string().max(64).nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type SystemEvent = z.infer<typeof SystemEventSchema>;

/** A range of one series to fetch again from its provider (bars where it has them, else history). */
export const BackfillJobSchema = z.object({
  v: z.literal(1),
  source: z.string().min(1).max(64),
  symbol: z.string().min(1).max(64),
  assetClass: z.enum(['crypto', 'stock', 'macro']),
  /** UTC ISO; [from, to). */
  from: z.string(),
  to: z.string(),
  /** The gaps row this fills (null for a backfill asked for by hand). */
  gapId: z.number().int().nullable(),
  /** Which attempt at that gap: a late outcome of an earlier attempt must not close a newer one. */
  attempt: z.number().int().positive().optional(),
  reason: z.enum(['gap-fill', 'health', 'manual']),
});
export type BackfillJob = z.infer<typeof BackfillJobSchema>;

/** A scheduled or run-now maintenance job; `series` narrows a gap-fill to some series (health's follow-up). */
export const MaintenanceJobSchema = z.object({
  requestedBy: z.string().max(100).default('schedule'),
});
export type MaintenanceJob = z.input<typeof MaintenanceJobSchema>;

/** Empty runs reported per backfill; more than this are reported as the first ones (the rest stay gaps). */
export const MAX_EMPTY_RANGES = 500;

/** What the ingest service reports after a backfill job (through the events queue, as kind `backfill_result`). */
export const BackfillResultSchema = z.object({
  gapId: z.number().int().nullable(),
  attempt: z.number().int().positive().optional(),
  source: z.string(),
  symbol: z.string(),
  from: z.string(),
  to: z.string(),
  status: z.enum(['filled', 'no_data', 'failed']),
  rows: z.number().int().nonnegative(),
  detail: z.string().max(1000).nullable(),
  assetClass: z.enum(['crypto', 'stock', 'macro']).optional(),
  /** Runs of minutes in [from, to) for which the provider returned no bar: confirmed empty at the source. */
  emptyRanges: z.array(z.tuple([z.string(), z.string()])).max(MAX_EMPTY_RANGES).default([]),
});
export type BackfillResult = z.input<typeof BackfillResultSchema>;

/** Every queue, with the job names and payloads it carries: producers and consumers share this map. */
export interface JobPayloads {
  [QUEUE_NAMES.ticks]: { [JOB_NAMES.tickBatch]: TickBatchJob };
  [QUEUE_NAMES.events]: { [JOB_NAMES.systemEvent]: SystemEvent };
  [QUEUE_NAMES.maintenance]: { [JOB_NAMES.gapFill]: MaintenanceJob; [JOB_NAMES.health]: MaintenanceJob };
}

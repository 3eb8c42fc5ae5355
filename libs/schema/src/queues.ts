import { z } from 'zod';
import { RejectReasonSchema } from './tick.js';

/**
 * Queue names are persisted in Redis keys: renaming one strands its jobs. Change only with a migration plan.
 * The prefix is a Redis Cluster hash tag so every key of a queue lands in one slot.
 */
export const QUEUE_NAMES = Object.freeze({
  ticks: 'ticks',
  events: 'events',
});
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export const DEFAULT_QUEUE_PREFIX = '{tickvault}';

export const JOB_NAMES = Object.freeze({
  tickBatch: 'tick-batch',
  systemEvent: 'system-event',
});

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
  ticks: z.array(z.unknown()).max(MAX_TICKS_PER_JOB),
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

/** Every queue, with the job names and payloads it carries: producers and consumers share this map. */
export interface JobPayloads {
  [QUEUE_NAMES.ticks]: { [JOB_NAMES.tickBatch]: TickBatchJob };
  [QUEUE_NAMES.events]: { [JOB_NAMES.systemEvent]: SystemEvent };
}

import { Queue, type ConnectionOptions } from 'bullmq';
import { backfillQueueName, tickShards, QUEUE_NAMES, type BackfillJob, type JOB_NAMES, type JobPayloads, type MaintenanceJob, type QueueName, type SystemEvent, type TickBatchJob } from '@tickvault/schema';
import { DEFAULT_JOB_OPTIONS } from './options.js';

export type TickQueue = Queue<TickBatchJob, unknown, typeof JOB_NAMES.tickBatch>;
export type EventQueue = Queue<SystemEvent, unknown, typeof JOB_NAMES.systemEvent>;

export function createTickQueue(connection: ConnectionOptions, prefix: string): TickQueue {
  return new Queue(QUEUE_NAMES.ticks, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

/** One queue per tick shard (see tickShards), index = shard. */
export function createTickQueues(connection: ConnectionOptions, prefix: string, shards: number): TickQueue[] {
  return tickShards(prefix, shards).map(
    (shard) => new Queue(shard.name, { connection, prefix: shard.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }) as TickQueue,
  );
}

export function createEventQueue(connection: ConnectionOptions, prefix: string): EventQueue {
  return new Queue(QUEUE_NAMES.events, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

export type MaintenanceQueue = Queue<MaintenanceJob, unknown, typeof JOB_NAMES.gapFill | typeof JOB_NAMES.health>;
export type BackfillQueue = Queue<BackfillJob, unknown, typeof JOB_NAMES.backfill>;

export function createMaintenanceQueue(connection: ConnectionOptions, prefix: string): MaintenanceQueue {
  // A maintenance run is redone by the next schedule anyway: a few attempts, kept briefly.
  return new Queue(QUEUE_NAMES.maintenance, {
    connection, prefix,
    defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, attempts: 3, removeOnComplete: { age: 7 * 24 * 3600, count: 200 } },
  });
}

export function createBackfillQueue(connection: ConnectionOptions, prefix: string, source: string): BackfillQueue {
  // Provider errors get a few spaced retries; what still fails is recorded on its gap as failed.
  return new Queue(backfillQueueName(source), {
    connection, prefix,
    defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, attempts: 5, removeOnComplete: { age: 7 * 24 * 3600, count: 5000 } },
  });
}

export type PayloadOf<Q extends QueueName> = JobPayloads[Q][keyof JobPayloads[Q]];

export const ALL_QUEUES: readonly QueueName[] = Object.values(QUEUE_NAMES);

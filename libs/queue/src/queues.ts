import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUE_NAMES, type JOB_NAMES, type JobPayloads, type QueueName, type SystemEvent, type TickBatchJob } from '@tickvault/schema';
import { DEFAULT_JOB_OPTIONS } from './options.js';

export type TickQueue = Queue<TickBatchJob, unknown, typeof JOB_NAMES.tickBatch>;
export type EventQueue = Queue<SystemEvent, unknown, typeof JOB_NAMES.systemEvent>;

export function createTickQueue(connection: ConnectionOptions, prefix: string): TickQueue {
  return new Queue(QUEUE_NAMES.ticks, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

export function createEventQueue(connection: ConnectionOptions, prefix: string): EventQueue {
  return new Queue(QUEUE_NAMES.events, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

export type PayloadOf<Q extends QueueName> = JobPayloads[Q][keyof JobPayloads[Q]];

export const ALL_QUEUES: readonly QueueName[] = Object.values(QUEUE_NAMES);

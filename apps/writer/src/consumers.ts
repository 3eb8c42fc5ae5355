import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { JOB_NAMES, QUEUE_NAMES, SystemEventSchema, type SystemEvent, type TickBatchJob, BackfillResultSchema, type TickShard } from '@tickvault/schema';
import { cappedExponentialBackoff, type RedisRefusalPause } from '@tickvault/queue';
import { classifyDbError, minutesStillMissing, recordEvent, type Sql, recordEmptyRanges, recordGapResult } from '@tickvault/db';
import { errorMessage, throttledLog, type Logger } from '@tickvault/runtime';
import type { BatchFlusher } from './batch-flusher.js';
import type { DatabaseGate } from './database-gate.js';
import { validateTickJob, type RetentionBounds } from './validate-job.js';

// While Postgres is down a job goes back to the queue for this long, without spending an attempt.
const OUTAGE_REQUEUE_MS = 5_000;
// A stalled tick job (its writer died) is safe to redo, since writes are idempotent: allow many stalls.
const MAX_STALLED_COUNT = 10;
// While Redis refuses every call (OOM, failover) a worker errors per call: one line per second per error is enough.
const REPEATED_ERROR_WINDOW_MS = 1_000;
// A backfill's outcome can arrive before its bars commit (they travel through the tick queues): a `filled`
// outcome waits for them, checked this often, and at most this long after it was sent. Past that it is
// recorded as it is; the next gap-fill run finds any minute still missing and opens the gap again.
const GAP_RESULT_RECHECK_MS = 500;
const GAP_RESULT_MAX_WAIT_MS = 120_000;

export interface ConsumerDeps {
  connection: ConnectionOptions;
  prefix: string;
  sql: Sql;
  flusher: BatchFlusher;
  gate: DatabaseGate;
  refusal: RedisRefusalPause;
  logger: Logger;
  bounds: RetentionBounds;
  concurrency: number;
  lockDurationMs: number;
  service: string;
  /** BullMQ worker name, stored on each job it takes as `processedBy`. */
  workerName?: string;
}

/** A worker on one tick shard (the unsharded layout is shard 0, queue `ticks`). */
export function createTickWorker(deps: ConsumerDeps, shard: TickShard = { index: 0, name: QUEUE_NAMES.ticks, prefix: deps.prefix }): Worker<TickBatchJob> {
  const worker = new Worker<TickBatchJob>(
    shard.name,
    async (job, token) => {
      // Job ids restart when a queue is emptied or Redis loses data; with the creation time the key stays unique.
      const jobKey = `${shard.name}:${job.id}@${job.timestamp}`;
      const validated = validateTickJob(job.data, jobKey, Date.now(), deps.bounds);
      if (!validated.ok) {
        deps.logger.error({ jobId: job.id, detail: validated.detail }, 'tick job can never succeed; failing it without retry');
        await recordEvent(deps.sql, {
          service: deps.service, kind: 'job_unprocessable', symbol: null,
          details: { queue: shard.name, jobId: job.id, detail: validated.detail }, dedupeKey: `unprocessable:${jobKey}`,
        }).catch(() => {});
        throw new UnrecoverableError(validated.detail);
      }
      try {
        await deps.flusher.submit({ jobKey, ticks: validated.ticks, bars: validated.bars, rejections: validated.rejections });
      } catch (error) {
        await requeueIfOutage(job, token, error, deps.gate);
        throw error;
      }
      return { ticks: validated.ticks.length, bars: validated.bars.length, rejected: validated.rejections.length };
    },
    { ...consumerOptions(deps, deps.concurrency), prefix: shard.prefix },
  );
  const logWorkerError = throttledLog(deps.logger, 'error', REPEATED_ERROR_WINDOW_MS);
  worker.on('error', (error) => {
    deps.refusal.onError(error);
    logWorkerError({ err: errorMessage(error), queue: shard.name }, 'tick worker error');
  });
  worker.on('completed', () => deps.refusal.onSuccess());
  worker.on('failed', (job, error) => {
    if (job && !(error instanceof DelayedError)) {
      deps.logger.warn({ jobId: job.id, attemptsMade: job.attemptsMade, err: errorMessage(error) }, 'tick job failed');
    }
  });
  deps.gate.attach(worker);
  return worker;
}

/** System events raised by ingest services (which never touch Postgres) arrive here. */
export function createEventWorker(deps: ConsumerDeps): Worker<SystemEvent> {
  const worker = new Worker<SystemEvent>(
    QUEUE_NAMES.events,
    async (job: Job<SystemEvent>, token) => {
      if (job.name !== JOB_NAMES.systemEvent) throw new UnrecoverableError(`unknown job name ${job.name}`);
      const event = SystemEventSchema.safeParse(job.data);
      if (!event.success) throw new UnrecoverableError(`event payload invalid: ${event.error.issues[0]?.message}`);
      try {
        await recordEvent(deps.sql, { ...event.data, dedupeKey: `${QUEUE_NAMES.events}:${job.id}@${job.timestamp}` });
        // An ingest service's backfill outcome closes its gap (ingest services never touch Postgres).
        if (event.data.kind === 'backfill_result') {
          const result = BackfillResultSchema.safeParse(event.data.details);
          if (result.success && result.data.gapId !== null) {
            const { source, symbol, from, to, emptyRanges, status, assetClass } = result.data;
            if (status === 'filled' && assetClass !== 'macro' && Date.now() - job.timestamp < GAP_RESULT_MAX_WAIT_MS) {
              if ((await minutesStillMissing(deps.sql, { source, symbol, from, to, emptyRanges })) > 0) {
                await job.moveToDelayed(Date.now() + GAP_RESULT_RECHECK_MS, token);
                throw new DelayedError();
              }
            }
            await recordGapResult(deps.sql, { gapId: result.data.gapId, attempt: result.data.attempt, status: result.data.status, rows: result.data.rows, detail: result.data.detail });
          }
          if (result.success && result.data.assetClass && result.data.emptyRanges.length > 0) {
            const { source, symbol, assetClass } = result.data;
            await recordEmptyRanges(deps.sql, { source, symbol, assetClass }, result.data.emptyRanges);
          }
        }
      } catch (error) {
        if (error instanceof DelayedError) throw error;
        await requeueIfOutage(job, token, error, deps.gate);
        throw error;
      }
    },
    // Events are rare; a few at a time is plenty.
    consumerOptions(deps, 4),
  );
  const logWorkerError = throttledLog(deps.logger, 'error', REPEATED_ERROR_WINDOW_MS);
  worker.on('error', (error) => {
    deps.refusal.onError(error);
    logWorkerError({ err: errorMessage(error), queue: QUEUE_NAMES.events }, 'event worker error');
  });
  deps.gate.attach(worker);
  return worker;
}

async function requeueIfOutage(job: Job, token: string | undefined, error: unknown, gate: DatabaseGate): Promise<void> {
  if (classifyDbError(error) !== 'outage') return;
  gate.reportDown(error);
  await job.moveToDelayed(Date.now() + OUTAGE_REQUEUE_MS, token);
  throw new DelayedError();
}

function consumerOptions(deps: ConsumerDeps, concurrency: number) {
  return {
    connection: deps.connection,
    prefix: deps.prefix,
    ...(deps.workerName ? { name: deps.workerName } : {}),
    concurrency,
    lockDuration: deps.lockDurationMs,
    stalledInterval: deps.lockDurationMs,
    maxStalledCount: MAX_STALLED_COUNT,
    settings: { backoffStrategy: cappedExponentialBackoff },
  };
}

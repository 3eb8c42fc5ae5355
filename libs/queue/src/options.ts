import type { JobsOptions } from 'bullmq';

/**
 * Failed jobs kept per queue. A full tick job (500 ticks) takes ~85 KB in Redis, so 1,000 of them
 * (~500,000 ticks) are ~85 MB, under a tenth of the shipped maxmemory (infra/redis/redis.conf), and
 * far more than an operator retries by hand. Other queues' jobs are a few hundred bytes: the same
 * count costs them nothing. Past it the oldest failed job is discarded; `tickvault report` warns when
 * a queue's failed set is full.
 */
export const FAILED_JOBS_KEPT = 1000;

/**
 * Defaults for every tick and event job. Attempts are generous because a transient failure
 * (a deadlock, a restarting Postgres) must never end with data in the failed set; database
 * outages do not spend attempts at all (the writer puts the job back without counting it).
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 12,
  // Custom strategy registered on the worker: doubling from 1 s, capped at 60 s.
  backoff: { type: 'capped-exponential', delay: 1000 },
  // Enough completed jobs to inspect recent work in Bull Board without growing Redis forever.
  removeOnComplete: { age: 3600, count: 1000 },
  // Failed jobs hold data that was not stored: keep them a week for an operator to retry, but no more
  // than FAILED_JOBS_KEPT, so a failure that hits every job cannot fill Redis with them.
  removeOnFail: { age: 7 * 24 * 3600, count: FAILED_JOBS_KEPT },
};

export const BACKOFF_CAP_MS = 60_000;

export function cappedExponentialBackoff(attemptsMade: number, type?: string): number {
  if (type !== undefined && type !== 'capped-exponential') return -1;
  return Math.min(BACKOFF_CAP_MS, 1000 * 2 ** Math.max(0, attemptsMade - 1));
}

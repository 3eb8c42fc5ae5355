import { UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import { backfillQueueName, BackfillJobSchema, MAX_EMPTY_RANGES, type BackfillJob, type BackfillResult } from '@tickvault/schema';
import { cappedExponentialBackoff, RedisRefusalPause } from '@tickvault/queue';
import { errorMessage, throttledLog, type Logger } from '@tickvault/runtime';
import type { MarketSource, SourceRejection } from '@tickvault/sources';
import type { Outbox } from './outbox.js';
import type { IngestPipeline } from './pipeline.js';

// Redis gets this long to take a backfill's data before the job is failed and retried.
const DELIVERY_DEADLINE_MS = 120_000;
// Minutes this close to the fetch are not final at every provider (Coinbase waits a few seconds).
const EMPTY_SETTLE_MS = 5 * 60_000;
// A provider's history pages through its own rate limit; this is only a guard against a hung request.
const LOCK_DURATION_MS = 120_000;

export interface BackfillDeps {
  source: MarketSource;
  pipeline: IngestPipeline;
  outbox: Outbox;
  connection: ConnectionOptions;
  prefix: string;
  service: string;
  logger: Logger;
  onResult?(result: BackfillResult): void;
}

/**
 * Works the source's backfill queue: fetches the range from the provider (its bars where it has them,
 * else its history), sends it through the normal pipeline to the writer, and completes only once
 * Redis holds that data. The outcome travels to the writer as a `backfill_result` event, which marks
 * the gap filled, empty at the source (`no_data`) or failed.
 */
export function createBackfillWorker(deps: BackfillDeps): Worker<BackfillJob> {
  const { source, pipeline, outbox, logger } = deps;
  const report = (job: BackfillJob, status: BackfillResult['status'], rows: number, detail: string | null, emptyRanges: [string, string][] = []) => {
    const result: BackfillResult = {
      gapId: job.gapId, ...(job.attempt === undefined ? {} : { attempt: job.attempt }), source: job.source, symbol: job.symbol, assetClass: job.assetClass, from: job.from, to: job.to, status, rows, detail, emptyRanges,
    };
    outbox.pushEvent({ ts: new Date().toISOString(), service: deps.service, kind: 'backfill_result', symbol: job.symbol, details: { ...result } });
    deps.onResult?.(result);
  };
  const worker = new Worker<BackfillJob>(
    backfillQueueName(source.id),
    async (job, _token, signal) => {
      const parsed = BackfillJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`not a backfill job: ${parsed.error.issues[0]?.message}`);
      const request = parsed.data;
      if (request.source !== source.id) throw new UnrecoverableError(`job for source ${request.source} on the ${source.id} queue`);
      const from = new Date(request.from);
      const to = new Date(request.to);
      if (!(from < to)) throw new UnrecoverableError(`empty range ${request.from} .. ${request.to}`);
      const start = pipeline.position;
      const startedAt = Date.now();
      let rows = 0;
      let refused = 0;
      let emptyRanges: [string, string][] = [];
      // Minutes the provider answered for, with a bar or with a row we refused: neither is "empty".
      const minutes = new Set<number>();
      let unplaced = false;
      const reject = (rejection: SourceRejection) => {
        if (!refusalConcerns(rejection, from, to)) return;
        refused++;
        pipeline.reject(source.id, rejection);
        if (typeof rejection.barMinute === 'number') minutes.add(rejection.barMinute);
        else unplaced = true;
      };
      if (source.bars && request.assetClass !== 'macro') {
        for await (const page of source.bars({ symbol: request.symbol, from, to, signal, reject })) {
          // Only accepted bars count: one the pipeline refused (unknown symbol, bad values) filled nothing.
          const accepted = pipeline.acceptBars(source, page);
          rows += accepted;
          refused += page.length - accepted;
          for (const bar of page) minutes.add(Date.parse(bar.openTime));
        }
        // A refused row whose minute is unreadable could be any minute: call none of them empty.
        // Providers leave the newest minutes out until they are final: those are not "empty at the source".
        emptyRanges = unplaced ? [] : emptyRuns(from, new Date(Math.min(to.getTime(), startedAt - EMPTY_SETTLE_MS)), minutes);
      } else {
        for await (const page of source.history({ symbol: request.symbol, from, to, signal, reject })) {
          pipeline.accept(source, page);
          rows += page.length;
        }
      }
      await pipeline.delivered(start, Date.now() + DELIVERY_DEADLINE_MS);
      // Refused rows leave their minutes without data: `failed` keeps the gap (and them) open for the
      // next gap-fill, where `filled` would wait for candles that never come and `no_data` would close them.
      if (refused > 0) report(request, 'failed', rows, `${refused} row(s) refused (see rejected_ticks); their minutes stay open for the next gap-fill`, emptyRanges);
      else report(request, rows > 0 ? 'filled' : 'no_data', rows, null, emptyRanges);
      // The outcome must reach Redis before the job completes, or a crash here would leave the gap open.
      await outbox.eventsDelivered(Date.now() + DELIVERY_DEADLINE_MS);
      logger.info({ source: source.id, symbol: request.symbol, from: request.from, to: request.to, rows, refused, reason: request.reason }, 'backfill done');
      return { rows };
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      // One range at a time per replica: the provider's rate limit is the bound anyway.
      concurrency: 1,
      lockDuration: LOCK_DURATION_MS,
      // A stalled backfill (its replica died, or Redis refused its completion) is safe to redo: the bars
      // it sends are idempotent writes. With BullMQ's default of 1 a second stall would fail it unreported.
      maxStalledCount: 5,
      settings: { backoffStrategy: cappedExponentialBackoff },
    },
  );
  worker.on('failed', (job, error) => {
    if (!job) return;
    const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ source: source.id, symbol: job.data.symbol, attempt: job.attemptsMade, final, err: errorMessage(error) }, 'backfill failed');
    if (final) report(job.data, 'failed', 0, errorMessage(error).slice(0, 1000));
  });
  // Errors repeat per call while Redis refuses writes: one line per second per error is enough.
  const logWorkerError = throttledLog(logger, 'error', 1_000);
  worker.on('error', (error) => logWorkerError({ err: errorMessage(error), source: source.id }, 'backfill worker error'));
  // BullMQ fetches again at once after a refused call; without a pause this worker would spin.
  RedisRefusalPause.watch(worker, logger);
  return worker;
}

const MINUTE_MS = 60_000;

/** Runs of whole minutes in [from, to) that no bar covered, as [start, end) ISO pairs (at most MAX_EMPTY_RANGES). */
export function emptyRuns(from: Date, to: Date, minutes: ReadonlySet<number>): [string, string][] {
  const runs: [string, string][] = [];
  let runStart: number | undefined;
  const first = Math.ceil(from.getTime() / MINUTE_MS) * MINUTE_MS;
  const end = Math.floor(to.getTime() / MINUTE_MS) * MINUTE_MS;
  for (let m = first; m <= end && runs.length < MAX_EMPTY_RANGES; m += MINUTE_MS) {
    const empty = m < end && !minutes.has(m);
    if (empty && runStart === undefined) runStart = m;
    if (!empty && runStart !== undefined) {
      runs.push([new Date(runStart).toISOString(), new Date(m).toISOString()]);
      runStart = undefined;
    }
  }
  return runs;
}

/**
 * Whether a refused row of a provider's answer concerns the range asked for. Providers answer a little
 * beyond it (a page's tail, candles before `start`): a bad bar there belongs to another range's gap and
 * must not fail this one (nor be recorded once per overlapping range). A row whose minute is unknown
 * (a trade, an unreadable bar) might be inside: it concerns the range.
 */
export function refusalConcerns(rejection: Pick<SourceRejection, 'barMinute'>, from: Date, to: Date): boolean {
  const minute = rejection.barMinute;
  return typeof minute !== 'number' || (minute >= from.getTime() && minute < to.getTime());
}

import type { HistoryRequest, MarketSource, Observation, SourceOptions, StreamContext } from '../source.js';
import { backoffDelay } from '../backoff.js';
import type { RestStats } from '../kit/rest-client.js';
import { resumingSource } from '../kit/resuming-source.js';
import { restWiring } from '../kit/rest-wiring.js';
import { acceptedSymbols } from '../kit/accepted-symbols.js';
import { futureToleranceMs } from '../kit/stream-options.js';
import { OutageClock } from '../kit/reconnect.js';
import { pollRound, pollUntilStopped, type PolledSourceTuning, type PollStats } from '../kit/poll-loop.js';
import { FredApiError, FredClient, isTransient } from './client.js';
import { checkRow, checkSeriesId, FredSeriesError, parseGraphCsv, parseObservationsJson, type RawRow, type RowContext } from './observations.js';

export const FRED_DEFAULTS = {
  apiUrl: 'https://api.stlouisfed.org/fred',
  graphUrl: 'https://fred.stlouisfed.org/graph/fredgraph.csv',
  // Macro series publish at most daily (most monthly or quarterly): hourly polls see a release
  // within the hour at one request per series per hour.
  pollSeconds: 3600,
  // FRED quotes 120 requests per minute per key; 100 leaves room for other users of the same key.
  requestsPerMinute: 100,
  // Revisions reach back a year and more (annual benchmark revisions): every poll reads this far back.
  revisionWindowDays: 400,
} as const;

const DAY_MS = 86_400_000;
const API_KEY = /^[a-z0-9]{32}$/;

export interface FredSourceOptions extends PolledSourceTuning {
  apiUrl: string;
  graphUrl: string;
  /** With a key the JSON observations API is used; without one the keyless fredgraph CSV. */
  apiKey?: string;
  pollMs: number;
  requestsPerMinute: number;
  /** Every poll re-reads this many days back, so revised values reach the writer (which upserts them). */
  revisionWindowDays: number;
  /** Observations dated further ahead of the clock are rejected (`future_timestamp`). */
  maxFutureMs: number;
  /** JSON page size (FRED's maximum is 100000). */
  pageLimit: number;
  /** Observations are emitted in batches of at most this many. */
  batchMax: number;
}

export interface FredStats extends PollStats {
  /** Observations emitted: new dates and changed values. */
  observations: number;
  /** Of those, values that replaced a different one emitted earlier (FRED revised them). */
  revisions: number;
  /** Read again unchanged (the revision window) and not sent again. */
  unchanged: number;
  /** FRED's missing-value marker, skipped. */
  missing: number;
  rejected: number;
  client: RestStats;
}

export type FredSource = MarketSource & { readonly stats: FredStats };

/** A 200 whose body is not FRED's format (cut short, an HTML page). */
class FredBodyError extends Error {
  constructor(
    readonly detail: string,
    readonly sample: string,
  ) {
    super(detail);
  }
}

function positive(value: number, variable: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${variable} must be a positive number (got ${value})`);
  return value;
}

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The `fred` source: macro series from the St. Louis Fed (FRED). One observation per period
 * (ts = the period start at midnight UTC, price = the value text as FRED sent it, size 0, no id).
 *
 * With an API key it reads the JSON observations API; without, the keyless fredgraph CSV, which
 * serves the same current values. Every poll re-reads the last `revisionWindowDays` of each series
 * and emits what is new or changed since it last emitted it: FRED revises published values, and
 * the writer upserts macro points, so a revised value overwrites the old one. A value FRED turns
 * back into "missing" cannot be withdrawn this way and stays as it was.
 *
 * Missing values (`.`, or empty in the CSV) are skipped and counted, not rejected: that is FRED's
 * marker for "no observation that day" (a holiday), not bad data.
 */
export function createFredSource(options: SourceOptions, overrides: Partial<FredSourceOptions> = {}): FredSource {
  const settings = options.settings?.fred;
  const apiKey = overrides.apiKey ?? settings?.apiKey;
  if (apiKey !== undefined && !API_KEY.test(apiKey)) {
    // The key itself is never printed, not even in part.
    throw new Error('FRED_API_KEY must be a FRED API key: 32 lower-case letters and digits; the value given is not');
  }
  for (const [url, variable] of [[settings?.apiUrl, 'FRED_API_URL'], [settings?.graphUrl, 'FRED_GRAPH_URL']] as const) {
    if (url !== undefined && (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))) throw new Error(`${variable} must be an http(s) URL (got "${url}")`);
  }
  const opts: FredSourceOptions = {
    apiUrl: settings?.apiUrl ?? FRED_DEFAULTS.apiUrl,
    graphUrl: settings?.graphUrl ?? FRED_DEFAULTS.graphUrl,
    pollMs: positive(settings?.pollSeconds ?? FRED_DEFAULTS.pollSeconds, 'FRED_POLL_SECONDS') * 1000,
    requestsPerMinute: positive(settings?.requestsPerMinute ?? FRED_DEFAULTS.requestsPerMinute, 'the FRED request budget per minute'),
    revisionWindowDays: FRED_DEFAULTS.revisionWindowDays,
    maxFutureMs: futureToleranceMs(options),
    initialBackoffMs: 2000,
    maxBackoffMs: 10 * 60_000,
    timeoutMs: 30_000,
    defaultRetryAfterMs: 60_000,
    maxRetryWaitMs: 5 * 60_000,
    maxAttempts: 5,
    pageLimit: 100_000,
    batchMax: 500,
    ...overrides,
    apiKey,
  };
  const random = opts.random ?? Math.random;
  // The budget is per key with one, per IP for the keyless CSV.
  const wiring = restWiring(options, apiKey === undefined ? 'fredgraph' : 'fred', opts.requestsPerMinute, opts);
  const { logger } = wiring;
  const client = new FredClient({
    ...wiring,
    apiUrl: opts.apiUrl,
    graphUrl: opts.graphUrl,
    apiKey,
    timeoutMs: opts.timeoutMs,
    defaultRetryAfterMs: opts.defaultRetryAfterMs,
    maxRetryWaitMs: opts.maxRetryWaitMs,
    random,
  });
  /** Per series: the value last emitted per date inside the revision window. */
  const sent = new Map<string, Map<string, string>>();
  const stats: FredStats = { rounds: 0, failedRounds: 0, reconnects: [], observations: 0, revisions: 0, unchanged: 0, missing: 0, rejected: 0, client: client.stats };

  /** Every row of a series from `start` (to `end`), paged for JSON; a body that is not the format throws. */
  async function fetchRows(seriesId: string, start: string, end: string | undefined, call: { signal?: AbortSignal; maxAttempts: number }): Promise<{ rows: RawRow[]; bad: string[] }> {
    if (!client.keyed) {
      const text = await client.graphCsv(seriesId, { start, end }, call);
      const csv = parseGraphCsv(text, seriesId);
      if (csv.kind === 'rejected') throw new FredBodyError(csv.detail, text.slice(0, 500));
      return csv;
    }
    const rows: RawRow[] = [];
    for (let offset = 0; ; ) {
      const text = await client.observationsJson(seriesId, { start, end, offset, limit: opts.pageLimit }, call);
      const page = parseObservationsJson(text);
      if (page.kind === 'rejected') throw new FredBodyError(page.detail, text.slice(0, 500));
      rows.push(...page.rows);
      offset += page.rows.length;
      if (page.rows.length === 0 || offset >= page.count) return { rows, bad: [] };
    }
  }

  const rowContext = (): RowContext => ({ now: Date.now(), maxFutureMs: opts.maxFutureMs });

  /** Reads a series' revision window and emits what is new or changed. */
  async function poll(ctx: StreamContext, seriesId: string): Promise<void> {
    const start = isoDate(Date.now() - opts.revisionWindowDays * DAY_MS);
    const { rows, bad } = await fetchRows(seriesId, start, undefined, { signal: ctx.signal, maxAttempts: 1 });
    for (const line of bad) {
      stats.rejected++;
      ctx.reject({ symbol: seriesId, reason: 'malformed', detail: 'CSV line without exactly two fields', sample: line.slice(0, 500) });
    }
    let last = sent.get(seriesId);
    if (!last) sent.set(seriesId, (last = new Map()));
    const fresh: Observation[] = [];
    const check = rowContext();
    for (const row of rows) {
      const checked = checkRow(seriesId, row.date, row.value, row.sample, check);
      if (checked.kind === 'missing') stats.missing++;
      else if (checked.kind === 'rejected') {
        stats.rejected++;
        ctx.reject(checked.rejection);
      } else {
        const date = checked.observation.ts.slice(0, 10);
        const before = last.get(date);
        if (before === checked.observation.price) stats.unchanged++;
        else {
          if (before !== undefined) stats.revisions++;
          last.set(date, checked.observation.price);
          fresh.push(checked.observation);
        }
      }
    }
    for (const date of last.keys()) if (date < start) last.delete(date);
    for (let i = 0; i < fresh.length; i += opts.batchMax) ctx.emit(fresh.slice(i, i + opts.batchMax));
    stats.observations += fresh.length;
  }

  /**
   * Polls every active series once. An unknown series is rejected and dropped for this run; a
   * refused key or a transient failure ends the round (the other series would fail the same way);
   * a malformed body is rejected and the round, though finished, counts as failed so it is retried soon.
   */
  async function round(ctx: StreamContext, active: Set<string>): Promise<Error | undefined> {
    stats.rounds++;
    let incomplete: Error | undefined;
    const failed = await pollRound(active, {
      signal: ctx.signal,
      poll: (seriesId) => poll(ctx, seriesId),
      transient: isTransient,
      judge: (error, seriesId) => {
        if (error instanceof FredApiError && error.kind === 'unknown_series') {
          stats.rejected++;
          ctx.reject({ symbol: seriesId, reason: 'unknown_symbol', detail: `FRED has no series ${seriesId}: ${error.detail}`, sample: error.message });
          ctx.logger.warn({ series: seriesId }, 'FRED has no such series; not asking for it again until the stream restarts');
          active.delete(seriesId);
          return 'next';
        }
        if (error instanceof FredBodyError) {
          // Not FRED's format (cut short, an HTML page): refused, and read again after a backoff.
          stats.rejected++;
          ctx.reject({ symbol: seriesId, reason: 'malformed', detail: error.detail, sample: error.sample });
          incomplete ??= error;
          return 'next';
        }
        if (error instanceof FredApiError && error.kind === 'bad_key') {
          ctx.logger.error({ err: error.detail }, 'FRED refused the API key (FRED_API_KEY); trying again at the next poll');
          return 'end';
        }
        return undefined;
      },
      refused: (error, seriesId) => ctx.logger.warn({ series: seriesId, err: error.message }, 'FRED refused the request; trying again next poll'),
    });
    return failed ?? incomplete;
  }

  return {
    // Each poll re-reads the whole revision window, so a restart or a hand-over needs no replay.
    ...resumingSource('fred', options),
    stats,

    async stream(ctx: StreamContext) {
      logger.use(ctx.logger);
      const active = new Set(acceptedSymbols(ctx, checkSeriesId, (e) => e instanceof FredSeriesError, { stats }).map(([, seriesId]) => seriesId));
      let failures = 0;
      const outages = new OutageClock(ctx, stats);
      await pollUntilStopped(ctx.signal, () => active.size > 0, async () => {
        const failed = await round(ctx, active);
        if (ctx.signal.aborted) return 'stop';
        let delayMs = opts.pollMs;
        if (failed) {
          stats.failedRounds++;
          // A malformed body came with an answer: FRED was not unreachable.
          if (!(failed instanceof FredBodyError)) outages.lost(failed.message);
          // A refused key will not fix itself within seconds: ask again at the next regular poll.
          const badKey = failed instanceof FredApiError && failed.kind === 'bad_key';
          delayMs = badKey ? opts.pollMs : Math.min(opts.pollMs, backoffDelay(failures++, opts.initialBackoffMs, opts.maxBackoffMs, random));
          outages.backingOff(delayMs);
          if (!badKey) ctx.logger.warn({ err: failed.message, retryInMs: delayMs, failures }, 'FRED poll failed; retrying');
        } else {
          failures = 0;
          const outage = outages.live();
          if (outage) ctx.logger.info({ ...outage }, 'FRED answers again; the revision window covers what was missed');
        }
        return delayMs;
      });
    },

    async *history({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
      const seriesId = checkSeriesId(symbol);
      if (to.getTime() <= from.getTime()) return;
      const { rows } = await fetchRows(seriesId, isoDate(from.getTime()), isoDate(to.getTime() - 1), { signal, maxAttempts: opts.maxAttempts });
      const check = rowContext();
      const page: Observation[] = [];
      for (const row of rows) {
        const checked = checkRow(seriesId, row.date, row.value, row.sample, check);
        // A missing value is no value that day, not bad data.
        if (checked.kind === 'rejected') refuse?.(checked.rejection);
        if (checked.kind !== 'observation') continue;
        const at = Date.parse(checked.observation.ts);
        if (at >= from.getTime() && at < to.getTime()) page.push(checked.observation);
      }
      for (let i = 0; i < page.length; i += opts.batchMax) yield page.slice(i, i + opts.batchMax);
    },
  };
}

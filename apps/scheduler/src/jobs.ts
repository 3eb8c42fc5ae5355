import { isUsEquityMarketOpen, JOB_NAMES, usEquitySessions, type BackfillJob } from '@tickvault/schema';
import {
  detectGaps, recordEvent, recordGaps, saveHealth, seriesActivity,
  type ExpectedWindow, type GapRow, type HealthStatus, type SeriesHealth, type SeriesRef, type Sql,
} from '@tickvault/db';
import { createBackfillQueue, type BackfillQueue, type RedisClient } from '@tickvault/queue';
import type { Logger } from '@tickvault/runtime';
import { checkShardCoverage } from './shard-coverage.js';
import { gapFillWindows } from './windows.js';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
// An unhealthy series is filled again over at most the last hour (older holes are the weekly gap-fill's).
const HEALTH_FILL_MS = 3_600_000;
// A macro series is stale after this many of its usual spacings without a new point (publication delays vary).
const MACRO_STALE_SPACINGS = 3;
// ...and never sooner than this: a daily series skips weekends and holidays.
const MACRO_MIN_STALE_MS = 4 * DAY_MS;

export interface SchedulerDeps {
  sql: Sql;
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  series: readonly SeriesRef[];
  keep1m: number;
  tickRetentionMs: number;
  minPointsPerHour: number;
  maxSilenceMs: number;
  macroRefreshDays: number;
  service: string;
  onGaps?(detected: number, enqueued: number): void;
  onHealth?(results: readonly SeriesHealth[]): void;
}

/** One backfill queue per source, opened on first use and closed with the scheduler. */
export class BackfillQueues {
  private readonly queues = new Map<string, BackfillQueue>();
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    // Each handle re-emits its connection's errors; without a listener BullMQ prints them as raw stack traces.
    private readonly onError: (queue: string, error: Error) => void = () => {},
  ) {}

  of(source: string): BackfillQueue {
    let queue = this.queues.get(source);
    if (!queue) {
      queue = createBackfillQueue(this.redis, this.prefix, source);
      const name = queue.name;
      queue.on('error', (error) => this.onError(name, error));
      this.queues.set(source, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

function backfillJobFor(gap: GapRow, reason: BackfillJob['reason']): BackfillJob {
  return { v: 1, source: gap.source, symbol: gap.symbol, assetClass: gap.assetClass, from: gap.rangeStart, to: gap.rangeEnd, gapId: gap.id, attempt: gap.attempts, reason };
}

/** Detects gaps in the given windows, records them and enqueues one backfill per open gap. */
async function fillGaps(deps: SchedulerDeps, queues: BackfillQueues, series: readonly SeriesRef[], windows: readonly ExpectedWindow[], reason: BackfillJob['reason']) {
  const detected = await detectGaps(deps.sql, series, windows);
  const open = await recordGaps(deps.sql, detected);
  for (const gap of open) {
    // The id names the gap and its attempt: re-enqueueing a gap still open adds nothing.
    await queues.of(gap.source).add(JOB_NAMES.backfill, backfillJobFor(gap, reason), { jobId: `gap-${gap.id}-${gap.attempts}` });
  }
  return { detected: detected.length, enqueued: open.length, missingMinutes: detected.reduce((n, g) => n + g.missing, 0) };
}

/**
 * The weekly gap-fill: every configured crypto and stock series, inside retention, by calendar; every
 * macro series re-read over MACRO_REFRESH_DAYS (a point missing or revised is upserted).
 */
export async function runGapFill(deps: SchedulerDeps, queues: BackfillQueues, now = new Date()) {
  const barSeries = deps.series.filter((s) => s.assetClass !== 'macro');
  const windows = gapFillWindows(now, deps.keep1m, deps.tickRetentionMs, [...new Set(barSeries.map((s) => s.assetClass))]);
  // The newest minute looked at: minutes after it settle later and are first checked by the next run.
  const checkedUntil = windows.reduce<string | null>((latest, w) => (latest === null || w.end.toISOString() > latest ? w.end.toISOString() : latest), null);
  const result = { ...(await fillGaps(deps, queues, barSeries, windows, 'gap-fill')), checkedUntil };
  const day = now.toISOString().slice(0, 10);
  const from = new Date(Math.max(now.getTime() - deps.macroRefreshDays * DAY_MS, 0)).toISOString();
  for (const s of deps.series.filter((x) => x.assetClass === 'macro')) {
    const job: BackfillJob = { v: 1, source: s.source, symbol: s.symbol, assetClass: 'macro', from, to: now.toISOString(), gapId: null, reason: 'gap-fill' };
    await queues.of(s.source).add(JOB_NAMES.backfill, job, { jobId: `refresh-${s.source}-${s.symbol}-${day}` });
  }
  deps.onGaps?.(result.detected, result.enqueued);
  await recordEvent(deps.sql, { service: deps.service, kind: 'gap_fill_run', symbol: null, details: { ...result, series: deps.series.length } });
  deps.logger.info(result, 'gap-fill run done');
  return result;
}

function marketOpenAllHour(series: SeriesRef, now: Date): boolean {
  if (series.assetClass === 'crypto') return true;
  if (series.assetClass === 'macro') return false;
  const sessions = usEquitySessions(new Date(now.getTime() - 3_600_000), now);
  const openMs = sessions.reduce((ms, s) => ms + (s.close.getTime() - s.open.getTime()), 0);
  return openMs >= 3_600_000 - 60_000 && isUsEquityMarketOpen(new Date(now.getTime() - 60_000));
}

/**
 * The hourly health check: per series, points in the last hour and the age of the newest point,
 * judged by its calendar. An unhealthy series gets a gap-fill of the last hour at once and an event.
 */
export async function runHealth(deps: SchedulerDeps, queues: BackfillQueues, now = new Date()) {
  const activity = await seriesActivity(deps.sql, deps.series, now);
  const results: SeriesHealth[] = activity.map((a) => {
    const open = marketOpenAllHour(a, now);
    let status: HealthStatus;
    let detail: string | null = null;
    if (a.assetClass === 'macro') {
      const allowedMs = Math.max(MACRO_MIN_STALE_MS, (a.typicalSpacingMs ?? 0) * MACRO_STALE_SPACINGS);
      if (!a.lastUpdate) status = 'no_data';
      else if (now.getTime() - a.lastUpdate.getTime() > allowedMs) {
        status = 'stale';
        detail = `no new point for ${Math.round((now.getTime() - a.lastUpdate.getTime()) / DAY_MS)} days (expected within ${Math.round(allowedMs / DAY_MS)})`;
      } else status = 'ok';
    } else if (!open) status = 'closed';
    else if (!a.lastUpdate) status = 'no_data';
    else if (now.getTime() - a.lastUpdate.getTime() > deps.maxSilenceMs) {
      status = 'stale';
      detail = `no new point for ${Math.round((now.getTime() - a.lastUpdate.getTime()) / 1000)} s while the market is open`;
    } else if (a.pointsLastHour < deps.minPointsPerHour) {
      status = 'low';
      detail = `${a.pointsLastHour} points in the last hour (threshold ${deps.minPointsPerHour})`;
    } else status = 'ok';
    return { ...a, checkedAt: now, marketOpen: open, status, detail };
  });
  await saveHealth(deps.sql, results);
  const unhealthy = results.filter((r) => r.status === 'low' || r.status === 'no_data' || r.status === 'stale');
  let enqueued = 0;
  for (const r of unhealthy) {
    // The recent stretch at once, without waiting for the settle time gap detection needs: bars
    // replace their minute, so asking again for minutes already stored changes nothing.
    const from = r.assetClass === 'macro'
      ? new Date(now.getTime() - deps.macroRefreshDays * DAY_MS)
      : new Date(Math.floor(Math.max(now.getTime() - HEALTH_FILL_MS, r.lastUpdate?.getTime() ?? 0) / MINUTE_MS) * MINUTE_MS);
    const job: BackfillJob = { v: 1, source: r.source, symbol: r.symbol, assetClass: r.assetClass, from: from.toISOString(), to: now.toISOString(), gapId: null, reason: 'health' };
    await queues.of(r.source).add(JOB_NAMES.backfill, job, { jobId: `health-${r.source}-${r.symbol.replace('/', '_')}-${now.getTime()}` });
    enqueued++;
    await recordEvent(deps.sql, {
      service: deps.service, kind: 'series_unhealthy', symbol: r.symbol,
      details: { source: r.source, status: r.status, detail: r.detail, pointsLastHour: r.pointsLastHour, lastUpdate: r.lastUpdate?.toISOString() ?? null },
    });
  }
  deps.onHealth?.(results);
  // A registry that cannot be read fails only this part: the series' health is stored already.
  const orphanedShards = await checkShardCoverage(deps, now).catch((error: unknown) => {
    deps.logger.warn({ err: (error as Error).message }, 'could not check which tick shards have a writer');
    return [];
  });
  const summary = { series: results.length, unhealthy: unhealthy.length, backfillsEnqueued: enqueued, orphanedShards };
  deps.logger.info(summary, 'health check done');
  return summary;
}

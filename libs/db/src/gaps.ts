import type { AssetClass } from '@tickvault/schema';
import type { Sql } from './client.js';

export interface SeriesRef {
  source: string;
  symbol: string;
  assetClass: AssetClass;
}

/** A stretch of time in which a series is expected to trade (crypto: all of it; stocks: sessions). */
export interface ExpectedWindow {
  assetClass: AssetClass;
  start: Date;
  end: Date;
}

export type GapStatus = 'open' | 'filled' | 'no_data' | 'failed';

export interface GapRow {
  id: number;
  source: string;
  symbol: string;
  assetClass: AssetClass;
  timeframe: string;
  rangeStart: string;
  rangeEnd: string;
  missing: number;
  status: GapStatus;
  attempts: number;
  rows: number | null;
  detail: string | null;
  detectedAt: string;
  updatedAt: string;
}

/**
 * Missing one-minute candles of the given series within the expected windows, grouped into runs of
 * consecutive minutes. Set-based: expected minutes are generated, anti-joined with candles through
 * the primary key, and islands found with one window function. Minutes the provider already said it
 * has nothing for (`no_data`) are not asked for again, nor any before a series' 1m retention cutoff
 * (they would be trimmed at once).
 */
const DETECT_GAPS_SQL = `
with series as (
  select * from unnest($1::text[], $2::text[], $3::text[]) as s(source, symbol, asset_class)
),
windows as (
  select * from unnest($4::text[], $5::timestamptz[], $6::timestamptz[]) as w(asset_class, w_start, w_end)
),
expected as (
  select s.source, s.symbol, s.asset_class, m.minute
  from series s
  join windows w using (asset_class)
  cross join lateral generate_series(
    date_bin('1 minute', w.w_start + interval '59.999999 seconds', timestamptz '2000-01-01 00:00:00+00'),
    w.w_end - interval '1 minute', interval '1 minute') as m(minute)
  left join candle_cutoffs k on k.source = s.source and k.symbol = s.symbol and k.timeframe = '1m'
  where k.cutoff is null or m.minute >= k.cutoff
),
missing as (
  select e.* from expected e
  where not exists (
      select 1 from candles c
      where c.source = e.source and c.symbol = e.symbol and c.timeframe = '1m' and c.open_time = e.minute)
    and not exists (
      select 1 from gaps g
      where g.source = e.source and g.symbol = e.symbol and g.timeframe = '1m' and g.status = 'no_data'
        and e.minute >= g.range_start and e.minute < g.range_end)
),
islands as (
  select source, symbol, asset_class, minute,
    minute - (row_number() over (partition by source, symbol order by minute)) * interval '1 minute' as island
  from missing
)
select source, symbol, asset_class, min(minute) as range_start, max(minute) + interval '1 minute' as range_end, count(*)::int as missing
from islands
group by source, symbol, asset_class, island
order by source, symbol, range_start
`;

export interface DetectedGap extends SeriesRef {
  rangeStart: Date;
  rangeEnd: Date;
  missing: number;
}

export async function detectGaps(sql: Sql, series: readonly SeriesRef[], windows: readonly ExpectedWindow[]): Promise<DetectedGap[]> {
  if (series.length === 0 || windows.length === 0) return [];
  const rows = await sql.unsafe<{ source: string; symbol: string; asset_class: AssetClass; range_start: Date; range_end: Date; missing: number }[]>(
    DETECT_GAPS_SQL,
    [
      series.map((s) => s.source),
      series.map((s) => s.symbol),
      series.map((s) => s.assetClass),
      windows.map((w) => w.assetClass),
      windows.map((w) => w.start.toISOString()),
      windows.map((w) => w.end.toISOString()),
    ] as never[],
  );
  return rows.map((r) => ({
    source: r.source, symbol: r.symbol, assetClass: r.asset_class,
    rangeStart: new Date(r.range_start), rangeEnd: new Date(r.range_end), missing: r.missing,
  }));
}

const GAP_COLUMNS = `id::int as id, source, symbol, asset_class as "assetClass", timeframe,
  to_char(range_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "rangeStart",
  to_char(range_end at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "rangeEnd",
  missing, status, attempts, rows, detail,
  to_char(detected_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "detectedAt",
  to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "updatedAt"`;

/**
 * Records detected gaps. A gap seen before keeps its row: a failed one, or a filled one whose candles
 * are missing again, is opened again (one more attempt); an open one stays open, and counts one more
 * attempt when it has been open for an hour (its job or its outcome was lost). Returns the open rows, to
 * be (re-)enqueued: the job id carries the gap id and attempt, so enqueueing an open gap twice within
 * an attempt adds one job.
 */
export async function recordGaps(sql: Sql, gaps: readonly DetectedGap[]): Promise<GapRow[]> {
  if (gaps.length === 0) return [];
  return sql.unsafe<GapRow[]>(
    `insert into gaps as g (source, symbol, asset_class, timeframe, range_start, range_end, missing, status)
     select source, symbol, asset_class, '1m', range_start, range_end, missing, 'open'
     from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[])
       as t(source, symbol, asset_class, range_start, range_end, missing)
     on conflict (source, symbol, timeframe, range_start, range_end) do update set
       missing = excluded.missing,
       attempts = g.attempts + (g.status in ('failed', 'filled') or (g.status = 'open' and g.updated_at < now() - interval '1 hour'))::int,
       status = case when g.status in ('failed', 'filled') then 'open' else g.status end,
       updated_at = now()
     returning ${GAP_COLUMNS}`,
    [
      gaps.map((g) => g.source),
      gaps.map((g) => g.symbol),
      gaps.map((g) => g.assetClass),
      gaps.map((g) => g.rangeStart.toISOString()),
      gaps.map((g) => g.rangeEnd.toISOString()),
      gaps.map((g) => g.missing),
    ] as never[],
  ).then((rows) => rows.filter((r) => r.status === 'open'));
}

/**
 * What a backfill found for a gap. Only an open gap changes: a late duplicate report cannot undo a
 * later attempt. A fill that brought no rows means the provider has nothing there (`no_data`).
 */
export async function recordGapResult(
  sql: Sql,
  result: { gapId: number; attempt?: number; status: 'filled' | 'no_data' | 'failed'; rows: number; detail: string | null },
): Promise<boolean> {
  const status = result.status === 'filled' && result.rows === 0 ? 'no_data' : result.status;
  const updated = await sql`
    update gaps set status = ${status}, rows = ${result.rows}, detail = ${result.detail}, updated_at = now()
    where id = ${result.gapId} and status = 'open' and (${result.attempt ?? null}::int is null or attempts = ${result.attempt ?? null}::int)
    returning id`;
  return updated.length > 0;
}

/**
 * Minutes of [from, to) that have no 1m candle yet, leaving out the ranges the provider reported empty
 * and minutes before the series' 1m cutoff. A backfill's bars travel to the writer through the tick
 * queues and its outcome through the event queue: a `filled` outcome is recorded only once this is 0.
 */
export async function minutesStillMissing(
  sql: Sql,
  range: { source: string; symbol: string; from: string; to: string; emptyRanges: readonly [string, string][] },
): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n
     from generate_series(
       date_bin('1 minute', $3::timestamptz + interval '59.999999 seconds', timestamptz '2000-01-01 00:00:00+00'),
       $4::timestamptz - interval '1 minute', interval '1 minute') as m(minute)
     where not exists (select 1 from candles c where c.source = $1 and c.symbol = $2 and c.timeframe = '1m' and c.open_time = m.minute)
       and not exists (select 1 from candle_cutoffs k where k.source = $1 and k.symbol = $2 and k.timeframe = '1m' and m.minute < k.cutoff)
       and not exists (select 1 from unnest($5::timestamptz[], $6::timestamptz[]) as e(s, t) where m.minute >= e.s and m.minute < e.t)`,
    [range.source, range.symbol, range.from, range.to, range.emptyRanges.map((r) => r[0]), range.emptyRanges.map((r) => r[1])] as never[],
  );
  return row?.n ?? 0;
}

/**
 * Ranges a backfill found empty at the source, recorded as `no_data` so no later run asks for them.
 * Idempotent: a redelivered report records each range once.
 */
export async function recordEmptyRanges(sql: Sql, series: SeriesRef, ranges: readonly [string, string][]): Promise<number> {
  if (ranges.length === 0) return 0;
  const rows = await sql.unsafe(
    `insert into gaps as g (source, symbol, asset_class, timeframe, range_start, range_end, missing, status, rows, detail)
     select $1, $2, $3, '1m', s, e, (extract(epoch from e - s) / 60)::int, 'no_data', 0, 'the provider returned no bar for these minutes'
     from unnest($4::timestamptz[], $5::timestamptz[]) as t(s, e)
     on conflict (source, symbol, timeframe, range_start, range_end) do update set status = 'no_data', updated_at = now()
     returning 1`,
    [series.source, series.symbol, series.assetClass, ranges.map((r) => r[0]), ranges.map((r) => r[1])] as never[],
  );
  return rows.length;
}

export async function listGaps(sql: Sql, options: { status?: readonly GapStatus[]; limit?: number } = {}): Promise<GapRow[]> {
  const statuses = options.status ?? ['open', 'failed', 'no_data', 'filled'];
  return sql.unsafe<GapRow[]>(
    `select ${GAP_COLUMNS} from gaps where status = any($1::text[]) order by detected_at desc, source, symbol, range_start limit $2`,
    [statuses, options.limit ?? 100] as never[],
  );
}

export async function gapCounts(sql: Sql): Promise<Record<GapStatus, number>> {
  const rows = await sql<{ status: GapStatus; n: number }[]>`select status, count(*)::int as n from gaps group by status`;
  const counts: Record<GapStatus, number> = { open: 0, filled: 0, no_data: 0, failed: 0 };
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

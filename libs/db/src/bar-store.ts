import type { Bar, LiveCandle, Tick, Timeframe } from '@tickvault/schema';
import type { Sql } from './client.js';
import { candleAggregationSql, timeframeArrays } from './candle-sql.js';
import { tradeOrderKey, tradeOrderKeyDesc } from './trade-order.js';

const TF = timeframeArrays();

type LatestRow = [string, string, Timeframe, string, string, string, string, string, string, number | null];

export interface SideWriteResult {
  written: number;
  created: [string, string, Timeframe][];
  latest: LiveCandle[];
}

/** Candle columns as a live update, decimals as text (used by every write path's RETURNING). */
export const LATEST_CANDLES_JSON = `coalesce(json_agg(json_build_array(source, symbol, timeframe,
      to_char(open_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
      open::text, high::text, low::text, close::text, volume::text, trade_count)), '[]'::json)`;

export function toLiveCandles(rows: LatestRow[]): LiveCandle[] {
  return rows.map(([source, symbol, timeframe, openTime, open, high, low, close, volume, tradeCount]) => ({
    source, symbol, timeframe, openTime, open, high, low, close, volume, tradeCount,
  }));
}

/**
 * Serializes writers per series where a write is not a pure fold: provider bars and macro points
 * replace values and recompute larger candles, so two of them (or one and a tick fold) must not
 * interleave on one series. Trade writes take the shared lock and run side by side. One statement,
 * keys in one order, so two writers cannot deadlock on each other's locks.
 */
export async function lockSeries(tx: Sql, exclusive: readonly string[], shared: readonly string[]): Promise<void> {
  if (exclusive.length === 0 && shared.length === 0) return;
  await tx.unsafe(
    `select count(case when excl then pg_advisory_xact_lock(k) else pg_advisory_xact_lock_shared(k) end)
     from (select hashtextextended(series, 0) as k, bool_or(excl) as excl
           from (select unnest($1::text[]) as series, true as excl union all select unnest($2::text[]), false) s
           group by 1 order by 1 offset 0) keys`,
    [exclusive, shared] as never[],
  );
}

export const seriesKey = (source: string, symbol: string): string => `${source}/${symbol}`;

const WRITE_BARS_SQL = `
with input as (
  select source, symbol, asset_class, open_time::timestamptz as open_time, open::numeric as open, high::numeric as high,
    low::numeric as low, close::numeric as close, volume::numeric as volume, trade_count,
    coalesce(seen_at::timestamptz, now()) as seen_at, ord
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[])
    with ordinality as t(source, symbol, asset_class, open_time, open, high, low, close, volume, trade_count, seen_at, ord)
),
-- The latest version of a minute's bar wins: by when the ingest service received it, then by order sent.
-- It is the provider's newest word (a correction, or the forming bar's newest state).
latest as (
  select distinct on (source, symbol, open_time) * from input order by source, symbol, open_time, seen_at desc, ord desc
),
remembered as (
  insert into bar_minutes (source, symbol, minute)
  select source, symbol, open_time from latest order by 1, 2, 3
  on conflict do nothing
),
old as (
  select c.source, c.symbol, c.open_time, c.volume, c.trade_count from candles c join latest l
    on c.source = l.source and c.symbol = l.symbol and c.timeframe = '1m' and c.open_time = l.open_time
),
written as (
  insert into candles as c (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count,
                            first_ts, first_trade_id, last_ts, last_trade_id, from_bar, bar_seen_at)
  select l.source, l.symbol, '1m', l.open_time, l.open, l.high, l.low, l.close, l.volume, l.trade_count,
    l.open_time, null, l.open_time + interval '59.999999 seconds', null, true, l.seen_at
  from latest l left join candle_cutoffs k on k.source = l.source and k.symbol = l.symbol and k.timeframe = '1m'
  where k.cutoff is null or l.open_time >= k.cutoff
  order by l.source, l.symbol, l.open_time
  on conflict (source, symbol, timeframe, open_time) do update set
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume,
    trade_count = excluded.trade_count, first_ts = excluded.first_ts, first_trade_id = null,
    last_ts = excluded.last_ts, last_trade_id = null, from_bar = true, bar_seen_at = excluded.bar_seen_at, updated_at = now()
  -- An older version arriving after a newer one (reordered jobs, a retry) changes nothing.
  where (c.bar_seen_at is null or excluded.bar_seen_at >= c.bar_seen_at)
    and (c.open, c.high, c.low, c.close, c.volume, c.trade_count, c.from_bar)
    is distinct from (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.trade_count, true)
  returning c.source, c.symbol, c.open_time, c.open, c.high, c.low, c.close, c.volume, c.trade_count, c.first_ts, c.last_ts,
    (xmax = 0) as created
)
select
  (select count(*) from written)::int as written,
  (select coalesce(json_agg(json_build_array(w.source, w.symbol, l.asset_class, w.open_time, w.created,
      w.volume::text, w.trade_count, o.volume::text, o.trade_count, w.open::text, w.high::text, w.low::text, w.close::text)), '[]'::json)
     from written w join latest l using (source, symbol, open_time)
     left join old o using (source, symbol, open_time)) as changed
`;

/**
 * Larger candles over minutes whose 1m candle was replaced by a bar. Where every minute of the bucket
 * is still kept at 1m (its start is not before the 1m cutoff), the bucket is recomputed from the 1m
 * candles, so a correction lowers a high as well as it raises one. An older bucket, whose early minutes
 * 1m retention already trimmed, is adjusted instead: volume and count by the bar's difference, high/low
 * widened, open/close by time order.
 */
const ROLLUP_BARS_SQL = `
with changed as (
  select source, symbol, asset_class, minute, volume::numeric - coalesce(old_volume::numeric, 0) as dvolume, dcount,
    open::numeric as open, high::numeric as high, low::numeric as low, close::numeric as close
  from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[])
    as t(source, symbol, asset_class, minute, volume, old_volume, dcount, open, high, low, close)
),
all_tf as (select * from unnest($12::text[], $13::text[]) as a(asset_class, timeframe)),
targets as (
  select distinct c.source, c.symbol, a.timeframe, tv_bucket(a.timeframe, c.minute) as open_time,
    tv_bucket(a.timeframe, c.minute) >= coalesce(k1.cutoff, '-infinity') as covered
  from changed c join all_tf a using (asset_class)
  left join candle_cutoffs k1 on k1.source = c.source and k1.symbol = c.symbol and k1.timeframe = '1m'
  where a.timeframe <> '1m'
),
recomputed as (
  select t.source, t.symbol, t.timeframe, t.open_time,
    (array_agg(array[m.open::text, m.first_trade_id] order by ${tradeOrderKey('m.first_ts', 'm.first_trade_id')}))[1][1]::numeric as open,
    (array_agg(array[m.close::text, m.last_trade_id] order by ${tradeOrderKeyDesc('m.last_ts', 'm.last_trade_id')}))[1][1]::numeric as close,
    (array_agg(m.first_trade_id order by ${tradeOrderKey('m.first_ts', 'm.first_trade_id')}))[1] as first_trade_id,
    (array_agg(m.last_trade_id order by ${tradeOrderKeyDesc('m.last_ts', 'm.last_trade_id')}))[1] as last_trade_id,
    max(m.high) as high, min(m.low) as low, sum(m.volume) as volume, sum(m.trade_count)::int as trade_count,
    min(m.first_ts) as first_ts, max(m.last_ts) as last_ts
  from targets t join candles m on m.source = t.source and m.symbol = t.symbol and m.timeframe = '1m'
    and m.open_time >= t.open_time and m.open_time < tv_bucket_end(t.timeframe, t.open_time)
  where t.covered
  group by 1, 2, 3, 4
),
replaced as (
  insert into candles as c (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count,
                            first_ts, first_trade_id, last_ts, last_trade_id)
  select r.source, r.symbol, r.timeframe, r.open_time, r.open, r.high, r.low, r.close, r.volume, r.trade_count,
    r.first_ts, r.first_trade_id, r.last_ts, r.last_trade_id
  from recomputed r left join candle_cutoffs k using (source, symbol, timeframe)
  where k.cutoff is null or r.open_time >= k.cutoff
  order by 1, 2, 3, 4
  on conflict (source, symbol, timeframe, open_time) do update set
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume,
    trade_count = excluded.trade_count, first_ts = excluded.first_ts, first_trade_id = excluded.first_trade_id,
    last_ts = excluded.last_ts, last_trade_id = excluded.last_trade_id, updated_at = now()
  returning c.*, (xmax = 0) as created
),
deltas as (
  select t.source, t.symbol, t.timeframe, t.open_time,
    (array_agg(c.open order by c.minute))[1] as open, (array_agg(c.close order by c.minute desc))[1] as close,
    max(c.high) as high, min(c.low) as low, sum(c.dvolume) as volume, sum(c.dcount)::int as trade_count,
    min(c.minute) as first_ts, max(c.minute) + interval '59.999999 seconds' as last_ts
  from targets t join changed c on c.source = t.source and c.symbol = t.symbol
    and c.minute >= t.open_time and c.minute < tv_bucket_end(t.timeframe, t.open_time)
  where not t.covered
  group by 1, 2, 3, 4
),
adjusted as (
  insert into candles as c (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count, first_ts, last_ts)
  select d.source, d.symbol, d.timeframe, d.open_time, d.open, d.high, d.low, d.close, d.volume, d.trade_count, d.first_ts, d.last_ts
  from deltas d left join candle_cutoffs k using (source, symbol, timeframe)
  where k.cutoff is null or d.open_time >= k.cutoff
  order by 1, 2, 3, 4
  on conflict (source, symbol, timeframe, open_time) do update set
    open = case when excluded.first_ts <= c.first_ts then excluded.open else c.open end,
    first_trade_id = case when excluded.first_ts <= c.first_ts then null else c.first_trade_id end,
    first_ts = least(c.first_ts, excluded.first_ts),
    close = case when excluded.last_ts >= c.last_ts then excluded.close else c.close end,
    last_trade_id = case when excluded.last_ts >= c.last_ts then null else c.last_trade_id end,
    last_ts = greatest(c.last_ts, excluded.last_ts),
    high = greatest(c.high, excluded.high), low = least(c.low, excluded.low),
    volume = c.volume + excluded.volume, trade_count = c.trade_count + excluded.trade_count, updated_at = now()
  returning c.*, (xmax = 0) as created
),
touched as (select * from replaced union all select * from adjusted)
select
  (select count(*) from touched)::int as written,
  (select coalesce(json_agg(json_build_array(source, symbol, timeframe)), '[]'::json)
     from (select distinct source, symbol, timeframe from touched where created) n) as created_series,
  (select ${LATEST_CANDLES_JSON} from (select distinct on (source, symbol, timeframe) * from touched
     order by source, symbol, timeframe, open_time desc) latest) as latest_candles
`;

type ChangedBar = [string, string, string, string, boolean, string, number | null, string | null, number | null, string, string, string, string];

/** Provider bars: each replaces its minute's candle; larger candles follow (see ROLLUP_BARS_SQL). */
export async function writeBars(tx: Sql, bars: readonly Bar[]): Promise<SideWriteResult & { barsWritten: number }> {
  const result = { written: 0, created: [] as [string, string, Timeframe][], latest: [] as LiveCandle[], barsWritten: 0 };
  if (bars.length === 0) return result;
  const [row] = await tx.unsafe<{ written: number; changed: ChangedBar[] }[]>(WRITE_BARS_SQL, [
    bars.map((b) => b.source),
    bars.map((b) => b.symbol),
    bars.map((b) => b.assetClass),
    bars.map((b) => b.openTime),
    bars.map((b) => b.open),
    bars.map((b) => b.high),
    bars.map((b) => b.low),
    bars.map((b) => b.close),
    bars.map((b) => b.volume),
    bars.map((b) => b.tradeCount),
    bars.map((b) => b.seenAt ?? null),
  ] as never[]);
  const changed = row!.changed;
  result.written = row!.written;
  result.barsWritten = row!.written;
  for (const c of changed) if (c[4]) result.created.push([c[0], c[1], '1m']);
  result.latest = latestPerSeries(changed.map((c) => [c[0], c[1], '1m', toIsoMinute(c[3]), c[9], c[10], c[11], c[12], c[5], c[6]]));
  if (changed.length === 0) return result;
  const [rollup] = await tx.unsafe<{ written: number; created_series: [string, string, Timeframe][]; latest_candles: LatestRow[] }[]>(ROLLUP_BARS_SQL, [
    changed.map((c) => c[0]),
    changed.map((c) => c[1]),
    changed.map((c) => c[2]),
    changed.map((c) => c[3]),
    // The difference the bar makes to larger candles: all of it for a new minute, the change for a replaced one.
    changed.map((c) => c[5]),
    changed.map((c) => c[7]),
    changed.map((c) => (c[6] ?? 0) - (c[8] ?? 0)),
    changed.map((c) => c[9]),
    changed.map((c) => c[10]),
    changed.map((c) => c[11]),
    changed.map((c) => c[12]),
    TF.assetClasses,
    TF.timeframes,
  ] as never[]);
  result.written += rollup!.written;
  result.created.push(...rollup!.created_series);
  result.latest.push(...toLiveCandles(rollup!.latest_candles));
  return result;
}

function toIsoMinute(value: string): string {
  return new Date(value).toISOString().replace('.000Z', 'Z');
}

function latestPerSeries(rows: LatestRow[]): LiveCandle[] {
  const newest = new Map<string, LatestRow>();
  for (const row of rows) {
    const key = `${row[0]}\u0000${row[1]}`;
    const seen = newest.get(key);
    if (!seen || seen[3] < row[3]) newest.set(key, row);
  }
  return toLiveCandles([...newest.values()]);
}

const WRITE_POINTS_SQL = `
with input as (
  select source, symbol, asset_class, ts::timestamptz as ts, price::numeric as price, size::numeric as size, trade_id, ord
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) with ordinality
    as t(source, symbol, asset_class, ts, price, size, trade_id, ord)
),
latest as (
  select distinct on (source, symbol, ts, trade_id) * from input order by source, symbol, ts, trade_id, ord desc
),
added as (
  -- A series seen for the first time gets its id; the filter keeps identity values for new ones only.
  insert into series (source, symbol, asset_class)
  select distinct source, symbol, asset_class from latest l
  where not exists (select 1 from series s where s.source = l.source and s.symbol = l.symbol)
  order by 1, 2
  on conflict (source, symbol) do nothing
  returning id, source, symbol
),
ids as (
  select coalesce(s.id, a.id) as series_id, l.* from latest l
  left join series s on s.source = l.source and s.symbol = l.symbol
  left join added a on a.source = l.source and a.symbol = l.symbol
),
changed as (
  insert into macro_points as t (series_id, ts, trade_id, price, size)
  select series_id, ts, trade_id, price, size from ids
  order by 1, 2, 3
  -- Macro points are revised by their publishers: the newest value of an observation replaces the earlier one.
  on conflict on constraint macro_points_key do update set price = excluded.price, size = excluded.size, ingested_at = now()
  where (t.price, t.size) is distinct from (excluded.price, excluded.size)
  returning series_id, ts
)
select i.source, i.symbol, i.asset_class, c.ts::text as ts
from changed c join (select distinct series_id, source, symbol, asset_class from ids) i using (series_id)
`;

/**
 * Every candle of the changed points' buckets, recomputed from the stored points (a revision can lower
 * a high): macro series have a handful of points per bucket, so this costs little.
 */
const RECOMPUTE_POINT_CANDLES_SQL = `
with changed as (
  select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) as t(source, symbol, asset_class, ts)
),
all_tf_x as (select * from unnest($9::text[], $10::text[]) as a(asset_class, timeframe)),
targets as (
  select distinct c.source, c.symbol, a.timeframe, tv_bucket(a.timeframe, c.ts) as open_time
  from changed c join all_tf_x a using (asset_class)
),
spans as (
  select source, symbol, min(open_time) as lo, max(tv_bucket_end(timeframe, open_time)) as hi from targets group by 1, 2
),
span_ticks as (
  select se.source, se.symbol, se.asset_class, t.ts, t.price, t.size, t.trade_id
  from spans s join series se on se.source = s.source and se.symbol = s.symbol
  join macro_points t on t.series_id = se.id and t.ts >= s.lo and t.ts < s.hi
),
${candleAggregationSql('span_ticks', { baseAc: '$5', baseTf: '$6', allAc: '$7', allTf: '$8' })},
fresh as (select agg.* from agg join targets using (source, symbol, timeframe, open_time)),
replaced as (
  insert into candles as c (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count,
                            first_ts, first_trade_id, last_ts, last_trade_id)
  select f.source, f.symbol, f.timeframe, f.open_time, f.open, f.high, f.low, f.close, f.volume, f.trade_count,
    f.first_ts, f.first_trade_id, f.last_ts, f.last_trade_id
  from fresh f left join candle_cutoffs k using (source, symbol, timeframe)
  where k.cutoff is null or f.open_time >= k.cutoff
  order by 1, 2, 3, 4
  on conflict (source, symbol, timeframe, open_time) do update set
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume,
    trade_count = excluded.trade_count, first_ts = excluded.first_ts, first_trade_id = excluded.first_trade_id,
    last_ts = excluded.last_ts, last_trade_id = excluded.last_trade_id, updated_at = now()
  returning c.*, (xmax = 0) as created
)
select
  (select count(*) from replaced)::int as written,
  (select coalesce(json_agg(json_build_array(source, symbol, timeframe)), '[]'::json)
     from (select distinct source, symbol, timeframe from replaced where created) n) as created_series,
  (select ${LATEST_CANDLES_JSON} from (select distinct on (source, symbol, timeframe) * from replaced
     order by source, symbol, timeframe, open_time desc) latest) as latest_candles
`;

/** Macro points: upserted (revisions overwrite), then their buckets recomputed. Returns points changed. */
export async function writePoints(tx: Sql, points: readonly Tick[]): Promise<SideWriteResult & { pointsChanged: number }> {
  const result = { written: 0, created: [] as [string, string, Timeframe][], latest: [] as LiveCandle[], pointsChanged: 0 };
  if (points.length === 0) return result;
  const changed = await tx.unsafe<{ source: string; symbol: string; asset_class: string; ts: string }[]>(WRITE_POINTS_SQL, [
    points.map((t) => t.source),
    points.map((t) => t.symbol),
    points.map((t) => t.assetClass),
    points.map((t) => t.ts),
    points.map((t) => t.price),
    points.map((t) => t.size),
    points.map((t) => t.tradeId),
  ] as never[]);
  result.pointsChanged = changed.length;
  if (changed.length === 0) return result;
  const [row] = await tx.unsafe<{ written: number; created_series: [string, string, Timeframe][]; latest_candles: LatestRow[] }[]>(
    RECOMPUTE_POINT_CANDLES_SQL,
    [
      changed.map((c) => c.source),
      changed.map((c) => c.symbol),
      changed.map((c) => c.asset_class),
      changed.map((c) => c.ts),
      TF.baseAssetClasses,
      TF.baseTimeframes,
      TF.assetClasses,
      TF.timeframes,
      TF.assetClasses,
      TF.timeframes,
    ] as never[],
  );
  result.written = row!.written;
  result.created = row!.created_series;
  result.latest = toLiveCandles(row!.latest_candles);
  return result;
}

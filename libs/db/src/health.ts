import type { AssetClass } from '@tickvault/schema';
import type { Sql } from './client.js';
import type { SeriesRef } from './gaps.js';

export interface SeriesActivity extends SeriesRef {
  /** Trades (or bar minutes for providers without counts) in the last hour, from the 1m candles. */
  pointsLastHour: number;
  /** Time of the newest point folded into the series' smallest candle. */
  lastUpdate: Date | null;
  /** For macro series: the median spacing of the last points, to judge staleness by their frequency. */
  typicalSpacingMs: number | null;
}

/**
 * Per series, from candles only (through their primary key, never a scan of ticks): points in the
 * last hour and the newest update. Macro series also get the spacing of their recent points.
 */
export async function seriesActivity(sql: Sql, series: readonly SeriesRef[], now: Date): Promise<SeriesActivity[]> {
  if (series.length === 0) return [];
  const rows = await sql.unsafe<{ source: string; symbol: string; asset_class: AssetClass; points: number; last_update: Date | null; spacing_ms: number | null }[]>(
    `with series as (select * from unnest($1::text[], $2::text[], $3::text[]) as s(source, symbol, asset_class))
     select s.source, s.symbol, s.asset_class,
       coalesce((select sum(coalesce(c.trade_count, 1))::int from candles c
         where c.source = s.source and c.symbol = s.symbol and c.timeframe = '1m'
           and c.open_time >= $4::timestamptz - interval '1 hour' and c.open_time < $4::timestamptz), 0) as points,
       (select c.last_ts from candles c
         where c.source = s.source and c.symbol = s.symbol and c.timeframe = case when s.asset_class = 'macro' then '1d' else '1m' end
         order by c.open_time desc limit 1) as last_update,
       case when s.asset_class = 'macro' then (
         select (extract(epoch from percentile_cont(0.5) within group (order by d.spacing)) * 1000)::bigint
         from (select c.open_time - lag(c.open_time) over (order by c.open_time) as spacing
               from (select open_time from candles c where c.source = s.source and c.symbol = s.symbol and c.timeframe = '1d'
                     order by open_time desc limit 11) c) d
         where d.spacing is not null) end as spacing_ms
     from series s`,
    [series.map((s) => s.source), series.map((s) => s.symbol), series.map((s) => s.assetClass), now.toISOString()] as never[],
  );
  return rows.map((r) => ({
    source: r.source, symbol: r.symbol, assetClass: r.asset_class, pointsLastHour: r.points,
    lastUpdate: r.last_update ? new Date(r.last_update) : null, typicalSpacingMs: r.spacing_ms === null ? null : Number(r.spacing_ms),
  }));
}

export type HealthStatus = 'ok' | 'low' | 'stale' | 'closed' | 'no_data';

export interface SeriesHealth extends SeriesRef {
  checkedAt: Date;
  marketOpen: boolean;
  pointsLastHour: number;
  lastUpdate: Date | null;
  status: HealthStatus;
  detail: string | null;
}

export async function saveHealth(sql: Sql, results: readonly SeriesHealth[]): Promise<void> {
  if (results.length === 0) return;
  await sql.unsafe(
    `insert into series_health (source, symbol, asset_class, checked_at, market_open, points_last_hour, last_update, status, detail)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]::boolean[], $6::int[], $7::timestamptz[], $8::text[], $9::text[])
     on conflict (source, symbol) do update set asset_class = excluded.asset_class, checked_at = excluded.checked_at,
       market_open = excluded.market_open, points_last_hour = excluded.points_last_hour, last_update = excluded.last_update,
       status = excluded.status, detail = excluded.detail`,
    [
      results.map((r) => r.source),
      results.map((r) => r.symbol),
      results.map((r) => r.assetClass),
      results.map((r) => r.checkedAt.toISOString()),
      // As text: the driver sends a JS boolean array as one boolean.
      results.map((r) => String(r.marketOpen)),
      results.map((r) => r.pointsLastHour),
      results.map((r) => r.lastUpdate?.toISOString() ?? null),
      results.map((r) => r.status),
      results.map((r) => r.detail),
    ] as never[],
  );
}

export interface StoredHealth {
  source: string;
  symbol: string;
  assetClass: AssetClass;
  checkedAt: string;
  marketOpen: boolean;
  pointsLastHour: number;
  lastUpdate: string | null;
  status: HealthStatus;
  detail: string | null;
}

export async function latestHealth(sql: Sql): Promise<StoredHealth[]> {
  return sql<StoredHealth[]>`
    select source, symbol, asset_class as "assetClass",
      to_char(checked_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "checkedAt", market_open as "marketOpen",
      points_last_hour as "pointsLastHour",
      to_char(last_update at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "lastUpdate", status, detail
    from series_health order by source, symbol`;
}

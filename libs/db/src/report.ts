import type { Sql } from './client.js';

/** Read-only queries behind `tickvault report`. Each is bounded by an index, not by table size. */

export interface StoredSeries {
  source: string;
  symbol: string;
  /** Null when only candles are left (the series' ticks were all trimmed). */
  assetClass: string | null;
}

/**
 * Every (source, symbol) that has ticks or candles: the series table for ticks, and a loose index scan
 * over the candles primary key (each step jumps to the next series), so the cost is one index probe
 * per series however many rows each holds.
 */
export async function listStoredSeries(sql: Sql): Promise<StoredSeries[]> {
  const rows = await sql<{ source: string; symbol: string; asset_class: string | null }[]>`
    with recursive tick_series as (
      -- The series table lists every series that ever had ticks; one probe each says whether any are left.
      select s.source, s.symbol, s.asset_class from series s
      where exists (select 1 from tick_rows r where r.series_id = s.id)
         or exists (select 1 from macro_points m where m.series_id = s.id)
    ),
    candle_series as (
      (select source, symbol from candles order by source, symbol limit 1)
      union all
      select n.source, n.symbol from candle_series s cross join lateral (
        select c.source, c.symbol from candles c
        where (c.source, c.symbol) > (s.source, s.symbol)
        order by c.source, c.symbol limit 1
      ) n
    )
    select source, symbol, max(asset_class) as asset_class from (
      select source, symbol, asset_class from tick_series
      union all
      select source, symbol, null from candle_series
    ) found
    group by source, symbol
    order by source, symbol`;
  return rows.map((r) => ({ source: r.source, symbol: r.symbol, assetClass: r.asset_class }));
}

export interface SeriesStats {
  source: string;
  symbol: string;
  tickCount: number;
  firstTick: Date | null;
  lastTick: Date | null;
  candleCount: number;
  candleCount1m: number;
  last1mOpenTime: Date | null;
}

/**
 * Tick and candle figures for each series asked for, in the order asked, zeros for a series with no data.
 * Every subquery is an equality on the leading key columns: first/last tick walk the trade and point
 * keys (series_id, ts, …) from either end, the last 1m candle the candles primary key. Trades
 * are counted from the per-day counts the writers keep (a row per retained day, whatever the rate);
 * macro points, a few a day, are counted directly.
 */
export async function seriesStats(sql: Sql, series: readonly { source: string; symbol: string }[]): Promise<SeriesStats[]> {
  if (series.length === 0) return [];
  const rows = await sql<
    {
      source: string;
      symbol: string;
      tick_count: string;
      first_tick: Date | null;
      last_tick: Date | null;
      candle_count: string;
      candle_count_1m: string;
      last_1m_open_time: Date | null;
    }[]
  >`
    select s.source, s.symbol,
      coalesce((select sum(c.n) from tick_counts c where c.series_id = se.id), 0)
        + coalesce((select sum(d.n) from tick_count_deltas d where d.series_id = se.id), 0)
        + (select count(*) from macro_points m where m.series_id = se.id) as tick_count,
      -- min/max on each table walk its key from one end (the partitions in day order, stopping at the
      -- first that has the series); through the ticks view they would read every day's partition.
      (select min(x) from (select min(ts) as x from tick_rows where series_id = se.id
                           union all select min(ts) from macro_points where series_id = se.id) f) as first_tick,
      (select max(x) from (select max(ts) as x from tick_rows where series_id = se.id
                           union all select max(ts) from macro_points where series_id = se.id) l) as last_tick,
      (select count(*) from candles c where c.source = s.source and c.symbol = s.symbol) as candle_count,
      (select count(*) from candles c where c.source = s.source and c.symbol = s.symbol and c.timeframe = '1m') as candle_count_1m,
      (select c.open_time from candles c where c.source = s.source and c.symbol = s.symbol and c.timeframe = '1m'
        order by c.open_time desc limit 1) as last_1m_open_time
    from unnest(${series.map((s) => s.source)}::text[], ${series.map((s) => s.symbol)}::text[]) with ordinality as s(source, symbol, position)
    left join series se on se.source = s.source and se.symbol = s.symbol
    order by s.position`;
  return rows.map((r) => ({
    source: r.source,
    symbol: r.symbol,
    // count(*) is bigint, which the driver hands over as a string.
    tickCount: Number(r.tick_count),
    firstTick: r.first_tick,
    lastTick: r.last_tick,
    candleCount: Number(r.candle_count),
    candleCount1m: Number(r.candle_count_1m),
    last1mOpenTime: r.last_1m_open_time,
  }));
}

export interface RejectionCount {
  source: string;
  reason: string;
  last24h: number;
  total: number;
}

/** Rejected input by source and reason. Rejections are kept for the audit period only, so "total" means within it. */
export async function rejectionCounts(sql: Sql): Promise<RejectionCount[]> {
  const rows = await sql<{ source: string; reason: string; last_24h: string; total: string }[]>`
    select source, reason,
      count(*) filter (where rejected_at >= now() - interval '24 hours') as last_24h,
      count(*) as total
    from rejected_ticks
    group by source, reason
    order by source, reason`;
  return rows.map((r) => ({ source: r.source, reason: r.reason, last24h: Number(r.last_24h), total: Number(r.total) }));
}

export interface StoredEvent {
  id: number;
  ts: Date;
  service: string;
  kind: string;
  symbol: string | null;
  details: Record<string, unknown>;
}

export async function recentEvents(sql: Sql, limit = 10): Promise<StoredEvent[]> {
  const rows = await sql<{ id: string; ts: Date; service: string; kind: string; symbol: string | null; details: Record<string, unknown> }[]>`
    select id, ts, service, kind, symbol, details from system_events order by ts desc, id desc limit ${limit}`;
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

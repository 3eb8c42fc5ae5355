import postgres from 'postgres';
import type { Sql } from './client.js';
import { tradeIdOrderDesc, tradeOrderKey, tradeOrderKeyDesc } from './trade-order.js';

/**
 * Queries behind the dashboard's read API. Decimals leave the database as text (`::text`), exactly as
 * stored, and times as ISO-8601 UTC strings formatted by Postgres, so tick timestamps keep their
 * microseconds (a JS Date would cut them to milliseconds). Every query walks a key or index by its
 * leading columns and is bounded by a LIMIT or a time window.
 */

// Candle open times in the same form the writer's live updates use, so a chart can match them by string.
// Both go to to_char as parameters.
const CANDLE_TIME = 'YYYY-MM-DD"T"HH24:MI:SS"Z"';
const TICK_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

export interface ReadDbOptions {
  max: number;
  applicationName: string;
  /** Server-side cap on any one statement, so a slow query cannot pin a connection of the small pool. */
  statementTimeoutMs?: number;
}

/**
 * A pool for readers. Every transaction on it is read-only (Postgres refuses writes even if the role
 * could write), and statements have a time limit. Use a read-only role's URL on top of that.
 */
export function createReadDb(url: string, options: ReadDbOptions): Sql {
  return postgres(url, {
    max: options.max,
    connect_timeout: 5,
    idle_timeout: 30,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName,
      TimeZone: 'UTC',
      default_transaction_read_only: true,
      statement_timeout: options.statementTimeoutMs ?? 10_000,
      idle_in_transaction_session_timeout: 60_000,
    },
  });
}

export interface ApiCandle {
  openTime: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  tradeCount: number;
}

export interface CandleQuery {
  source: string;
  symbol: string;
  timeframe: string;
  /** Inclusive bucket start. With `from`, the oldest `limit` candles from there; without, the newest. */
  from?: Date;
  /** Exclusive bucket start. */
  to?: Date;
  limit: number;
}

/** Candles in ascending open time, through the candles primary key. `truncated`: more matched than `limit`. */
export async function readCandles(sql: Sql, q: CandleQuery): Promise<{ candles: ApiCandle[]; truncated: boolean }> {
  const newestFirst = q.from === undefined;
  const rows = await sql<{ open_time: string; open: string; high: string; low: string; close: string; volume: string; trade_count: number }[]>`
    select to_char(open_time at time zone 'UTC', ${CANDLE_TIME}) as open_time,
      open::text as open, high::text as high, low::text as low, close::text as close, volume::text as volume, trade_count
    from candles
    where source = ${q.source} and symbol = ${q.symbol} and timeframe = ${q.timeframe}
      and (${q.from ?? null}::timestamptz is null or open_time >= ${q.from ?? null}::timestamptz)
      and (${q.to ?? null}::timestamptz is null or open_time < ${q.to ?? null}::timestamptz)
    order by open_time ${newestFirst ? sql`desc` : sql`asc`}
    limit ${q.limit + 1}`;
  const truncated = rows.length > q.limit;
  const kept = rows.slice(0, q.limit);
  if (newestFirst) kept.reverse();
  return {
    candles: kept.map((r) => ({
      openTime: r.open_time, open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume, tradeCount: r.trade_count,
    })),
    truncated,
  };
}

export interface ApiTick {
  ts: string;
  price: string;
  size: string;
  tradeId: string | null;
}

export interface TickQuery {
  source: string;
  symbol: string;
  from: Date;
  to: Date;
  limit: number;
  /** With `newest`, the last `limit` ticks before `to`; otherwise the first `limit` from `from`. */
  newest: boolean;
}

// The candles' trade order (numeric ids as numbers: "999" before "1000"), so the last tick shown is the close.
const TRADE_ORDER = tradeOrderKey('ts', 'trade_id');
const TRADE_ORDER_DESC = tradeOrderKeyDesc('ts', 'trade_id');
const ID_ORDER_DESC = tradeIdOrderDesc('trade_id');
const LATEST_ORDER = tradeOrderKeyDesc('x.ts', 'x.trade_id');

/** Ticks in the candles' trade order (time, then trade id), through the ticks natural key. */
export async function readTicks(sql: Sql, q: TickQuery): Promise<{ ticks: ApiTick[]; truncated: boolean }> {
  const rows = await sql<{ ts: string; price: string; size: string; trade_id: string | null }[]>`
    select to_char(ts at time zone 'UTC', ${TICK_TIME}) as ts, price::text as price, size::text as size, trade_id
    from ticks
    where source = ${q.source} and symbol = ${q.symbol} and ts >= ${q.from} and ts < ${q.to}
    order by ${sql.unsafe(q.newest ? TRADE_ORDER_DESC : TRADE_ORDER)}
    limit ${q.limit + 1}`;
  const truncated = rows.length > q.limit;
  const kept = rows.slice(0, q.limit);
  if (q.newest) kept.reverse();
  return { ticks: kept.map((r) => ({ ts: r.ts, price: r.price, size: r.size, tradeId: r.trade_id })), truncated };
}

export interface LatestQuote {
  source: string;
  symbol: string;
  lastTick: ApiTick | null;
  /** The newest daily candle: the day's open, range and volume so far. */
  day: (ApiCandle & { timeframe: '1d' }) | null;
}

/** The last tick and the current daily candle of each series asked for, in the order asked. */
export async function readLatest(sql: Sql, series: readonly { source: string; symbol: string }[]): Promise<LatestQuote[]> {
  if (series.length === 0) return [];
  const rows = await sql<
    {
      source: string; symbol: string;
      ts: string | null; price: string | null; size: string | null; trade_id: string | null;
      open_time: string | null; open: string | null; high: string | null; low: string | null; close: string | null; volume: string | null; trade_count: number | null;
    }[]
  >`
    select s.source, s.symbol,
      t.ts, t.price, t.size, t.trade_id,
      d.open_time, d.open, d.high, d.low, d.close, d.volume, d.trade_count
    from unnest(${series.map((s) => s.source)}::text[], ${series.map((s) => s.symbol)}::text[]) with ordinality as s(source, symbol, position)
    left join series se on se.source = s.source and se.symbol = s.symbol
    left join lateral (
      -- Each table on its own finds the series' newest instant by walking its key backwards (through
      -- every daily partition's index; the ticks view would read the whole series to sort it), then
      -- picks the last trade of that instant in the candles' trade order.
      select to_char(x.ts at time zone 'UTC', ${TICK_TIME}) as ts, x.price::text as price, x.size::text as size, x.trade_id
      from (
        (select ts, price, size, trade_id from tick_rows
          where series_id = se.id and ts = (select max(ts) from tick_rows where series_id = se.id)
          order by ${sql.unsafe(ID_ORDER_DESC)} limit 1)
        union all
        (select ts, price, size, trade_id from macro_points
          where series_id = se.id and ts = (select max(ts) from macro_points where series_id = se.id)
          order by ${sql.unsafe(ID_ORDER_DESC)} limit 1)
      ) x
      order by ${sql.unsafe(LATEST_ORDER)} limit 1
    ) t on true
    left join lateral (
      select to_char(open_time at time zone 'UTC', ${CANDLE_TIME}) as open_time, open::text as open, high::text as high,
        low::text as low, close::text as close, volume::text as volume, trade_count
      from candles where source = s.source and symbol = s.symbol and timeframe = '1d'
      order by open_time desc limit 1
    ) d on true
    order by s.position`;
  return rows.map((r) => ({
    source: r.source,
    symbol: r.symbol,
    lastTick: r.ts === null ? null : { ts: r.ts, price: r.price!, size: r.size!, tradeId: r.trade_id },
    day:
      r.open_time === null
        ? null
        : { timeframe: '1d', openTime: r.open_time, open: r.open!, high: r.high!, low: r.low!, close: r.close!, volume: r.volume!, tradeCount: r.trade_count! },
  }));
}

/**
 * Ticks per series since `since` (the status page asks for the last hour): a range scan of the ticks
 * natural key, so its cost is the number of ticks in the window, not in the table.
 */
export async function ticksSince(sql: Sql, series: readonly { source: string; symbol: string }[], since: Date): Promise<number[]> {
  if (series.length === 0) return [];
  const rows = await sql<{ n: string }[]>`
    select (select count(*) from ticks t where t.source = s.source and t.symbol = s.symbol and t.ts >= ${since}) as n
    from unnest(${series.map((s) => s.source)}::text[], ${series.map((s) => s.symbol)}::text[]) with ordinality as s(source, symbol, position)
    order by s.position`;
  return rows.map((r) => Number(r.n));
}

export interface RejectionSummary {
  source: string;
  reason: string;
  count: number;
  lastAt: string;
  /** The detail of the most recent rejection with this source and reason. */
  lastDetail: string;
}

/** Rejected input since `since`, by source and reason, most frequent first, with the latest detail of each. */
export async function rejectionsByReason(sql: Sql, since: Date): Promise<RejectionSummary[]> {
  const rows = await sql<{ source: string; reason: string; count: string; last_at: string; last_detail: string }[]>`
    select g.source, g.reason, g.count, to_char(g.last_at at time zone 'UTC', ${TICK_TIME}) as last_at,
      (select r.detail from rejected_ticks r
        where r.source = g.source and r.reason = g.reason and r.rejected_at = g.last_at limit 1) as last_detail
    from (
      select source, reason, count(*) as count, max(rejected_at) as last_at
      from rejected_ticks where rejected_at >= ${since}
      group by source, reason
    ) g
    order by g.count desc, g.source, g.reason`;
  return rows.map((r) => ({ source: r.source, reason: r.reason, count: Number(r.count), lastAt: r.last_at, lastDetail: r.last_detail }));
}

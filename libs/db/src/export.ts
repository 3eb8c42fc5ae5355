import type { Sql } from './client.js';
import { tradeOrderKey } from './trade-order.js';

/**
 * Streams a series' ticks or candles out of the database for `tickvault export`: a server-side
 * cursor hands over `batchSize` rows at a time and the next batch is only fetched after `onBatch`
 * resolves, so a slow consumer (a pipe, a disk) holds the query back instead of filling memory.
 * Decimals leave as text, exactly as stored ('0.00012300' stays), times as ISO-8601 UTC strings
 * formatted by Postgres (tick times keep their microseconds).
 */

const CANDLE_TIME = 'YYYY-MM-DD"T"HH24:MI:SS"Z"';
const TICK_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';
const TRADE_ORDER = tradeOrderKey('ts', 'trade_id');

export interface ExportTickRow {
  ts: string;
  price: string;
  size: string;
  trade_id: string | null;
}

export interface ExportCandleRow {
  open_time: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  trade_count: number;
}

export interface ExportWindow {
  source: string;
  symbol: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  batchSize: number;
}

/** Whether the series was ever stored (a series with no rows in the window still exports an empty file). */
export async function seriesExists(sql: Sql, source: string, symbol: string): Promise<boolean> {
  const rows = await sql`
    select 1 from series where source = ${source} and symbol = ${symbol}
    union all
    select 1 from candles where source = ${source} and symbol = ${symbol}
    limit 1`;
  return rows.length > 0;
}

/** Ticks with from <= ts < to in the candles' trade order. Resolves to the number of rows exported. */
export async function exportTicks(sql: Sql, w: ExportWindow, onBatch: (rows: ExportTickRow[]) => Promise<void>): Promise<number> {
  let count = 0;
  const query = sql<ExportTickRow[]>`
    select to_char(ts at time zone 'UTC', ${TICK_TIME}) as ts, price::text as price, size::text as size, trade_id
    from ticks
    where source = ${w.source} and symbol = ${w.symbol} and ts >= ${w.from} and ts < ${w.to}
    order by ${sql.unsafe(TRADE_ORDER)}`;
  for await (const rows of query.cursor(w.batchSize)) {
    count += rows.length;
    await onBatch(rows);
  }
  return count;
}

/** Candles of one timeframe with from <= open_time < to, oldest first. Resolves to the number of rows exported. */
export async function exportCandles(
  sql: Sql,
  w: ExportWindow & { timeframe: string },
  onBatch: (rows: ExportCandleRow[]) => Promise<void>,
): Promise<number> {
  let count = 0;
  const query = sql<ExportCandleRow[]>`
    select to_char(open_time at time zone 'UTC', ${CANDLE_TIME}) as open_time,
      open::text as open, high::text as high, low::text as low, close::text as close, volume::text as volume, trade_count
    from candles
    where source = ${w.source} and symbol = ${w.symbol} and timeframe = ${w.timeframe}
      and open_time >= ${w.from} and open_time < ${w.to}
    order by open_time`;
  for await (const rows of query.cursor(w.batchSize)) {
    count += rows.length;
    await onBatch(rows);
  }
  return count;
}

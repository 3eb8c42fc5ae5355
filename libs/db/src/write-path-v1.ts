/**
 * The write path before v2, kept as the benchmark's baseline (`npm run bench`): trades of a batch
 * through INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING RETURNING into the text-keyed ticks
 * table of schema 4, folded into candles in SQL. It runs against a scratch schema that holds the old
 * tables (V1_SCHEMA_SQL), selected by the connection's search_path. Not used by any service.
 */
import type { Tick, Timeframe } from '@tickvault/schema';
import type { Sql } from './client.js';
import { CANDLE_FOLD_MERGE, candleAggregationSql, timeframeArrays, TRIM_CANDLES_SQL } from './candle-sql.js';
import { lockSeries, seriesKey } from './bar-store.js';
import { claimDataEnvironmentForWrite } from './data-environment.js';
import { insertRejections, type TickBatch, type WriteResult, type WriteSettings } from './tick-store.js';

const TF = timeframeArrays();

const WRITE_TICKS_SQL = `
with input as (
  -- Times and decimals travel as text and are cast here: the driver would round them through Date and float.
  select source, symbol, asset_class, ts::timestamptz as ts, price::numeric as price, size::numeric as size, trade_id
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    as t(source, symbol, asset_class, ts, price, size, trade_id)
),
inserted as (
  insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
  select source, symbol, asset_class, ts, price, size, trade_id from input
  -- One lock order for every writer, so concurrent batches cannot deadlock on the same keys.
  order by source, symbol, ts, trade_id
  on conflict on constraint ticks_natural_key do nothing
  returning source, symbol, asset_class, ts, price, size, trade_id
),
${candleAggregationSql('inserted', { baseAc: '$8', baseTf: '$9', allAc: '$10', allTf: '$11' }, { barMinutes: 'skip' })},
upserted as (
  insert into candles as c (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count,
                            first_ts, first_trade_id, last_ts, last_trade_id)
  select agg.source, agg.symbol, agg.timeframe, agg.open_time, agg.open, agg.high, agg.low, agg.close, agg.volume,
         agg.trade_count, agg.first_ts, agg.first_trade_id, agg.last_ts, agg.last_trade_id
  from agg
  left join candle_cutoffs k using (source, symbol, timeframe)
  where k.cutoff is null or agg.open_time >= k.cutoff
  order by agg.source, agg.symbol, agg.timeframe, agg.open_time
  ${CANDLE_FOLD_MERGE}
  returning c.source, c.symbol, c.timeframe, c.open_time, c.open, c.high, c.low, c.close, c.volume, c.trade_count,
    (xmax = 0) as created
)
select
  (select count(*) from input)::int as received,
  (select count(*) from inserted)::int as inserted,
  (select count(*) from agg)::int as candle_updates,
  (select count(*) from upserted)::int as candles_written,
  (select coalesce(json_agg(json_build_array(source, symbol, timeframe)), '[]'::json)
     from (select distinct source, symbol, timeframe from upserted where created) n) as created_series,
  (select count(*) from upserted where created)::int as candles_created,
  -- The newest changed candle per series and timeframe, for live readers (decimals as text).
  (select coalesce(json_agg(json_build_array(source, symbol, timeframe,
      to_char(open_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
      open::text, high::text, low::text, close::text, volume::text, trade_count)), '[]'::json)
     from (select distinct on (source, symbol, timeframe) * from upserted
           order by source, symbol, timeframe, open_time desc) latest) as latest_candles
`;


/**
 * Writes one batch in one transaction: new ticks (idempotent), the candles they change, candle
 * retention for series that gained a candle, and the batch's rejections. Either all of it commits or none.
 */
export async function writeTickBatchV1(sql: Sql, batch: TickBatch, settings: WriteSettings): Promise<WriteResult> {
  // The baseline stores trades only (macro points and bars take the same paths in v1 and v2).
  const trades = batch.ticks.filter((t) => t.assetClass !== 'macro');
  return sql.begin(async (tx) => {
    const result: WriteResult = {
      ticksReceived: batch.ticks.length,
      ticksInserted: 0,
      ticksCopied: 0,
      pointsChanged: 0,
      barsReceived: 0,
      barsWritten: 0,
      candlesWritten: 0,
      candlesCreated: 0,
      candleUpdatesPastRetention: 0,
      candlesTrimmed: 0,
      rejectionsRecorded: 0,
      latestCandles: [],
    };
    const created: [string, string, Timeframe][] = [];
    if (trades.length > 0 && settings.dataEnvironment) {
      await claimDataEnvironmentForWrite(tx as unknown as Sql, settings.dataEnvironment.environment, settings.dataEnvironment.by);
    }
    if (trades.length > 0) await lockSeries(tx as unknown as Sql, [], sharedKeysOf(trades));
    if (trades.length > 0) {
      const ticks = trades;
      const [row] = await tx.unsafe<
        {
          received: number;
          inserted: number;
          candle_updates: number;
          candles_written: number;
          candles_created: number;
          created_series: [string, string, Timeframe][];
          latest_candles: [string, string, Timeframe, string, string, string, string, string, string, number][];
        }[]
      >(WRITE_TICKS_SQL, [
        ticks.map((t) => t.source),
        ticks.map((t) => t.symbol),
        ticks.map((t) => t.assetClass),
        ticks.map((t) => t.ts),
        ticks.map((t) => t.price),
        ticks.map((t) => t.size),
        ticks.map((t) => t.tradeId),
        TF.baseAssetClasses,
        TF.baseTimeframes,
        TF.assetClasses,
        TF.timeframes,
      ] as never[]);
      result.ticksInserted += row!.inserted;
      result.candlesWritten += row!.candles_written;
      result.candlesCreated += row!.candles_created;
      result.candleUpdatesPastRetention = row!.candle_updates - row!.candles_written;
      result.latestCandles.push(
        ...row!.latest_candles.map(([source, symbol, timeframe, openTime, open, high, low, close, volume, tradeCount]) => ({
          source, symbol, timeframe, openTime, open, high, low, close, volume, tradeCount,
        })),
      );
      created.push(...row!.created_series);
    }
    if (created.length > 0) {
      const unique = [...new Map(created.map((c) => [c.join('\u0000'), c])).values()];
      const [trim] = await tx.unsafe<{ trimmed: number }[]>(TRIM_CANDLES_SQL, [
        unique.map((c) => c[0]),
        unique.map((c) => c[1]),
        unique.map((c) => c[2]),
        unique.map((c) => settings.candleKeep[c[2]]),
      ] as never[]);
      result.candlesTrimmed = trim!.trimmed;
    }
    if (batch.rejections.length > 0) {
      result.rejectionsRecorded = await insertRejections(tx as unknown as Sql, batch.rejections);
    }
    return result;
  });
}

/** Shared locks for a trades-only batch: one per series, deduplicated. */
function sharedKeysOf(trades: readonly Tick[]): string[] {
  const keys = new Set<string>();
  for (const t of trades) keys.add(seriesKey(t.source, t.symbol));
  return [...keys];
}

/** The scratch schema of the v1 baseline. */
export const V1_SCHEMA = 'tickvault_v1';

/** The tables of schema 4 that the v1 write path touches, created in the current schema. */
export const V1_SCHEMA_SQL = `
create table ticks (
  source text not null, symbol text not null,
  asset_class text not null check (asset_class in ('crypto', 'stock', 'macro')),
  ts timestamptz not null, price numeric not null, size numeric not null, trade_id text,
  ingested_at timestamptz not null default now(),
  constraint ticks_natural_key unique nulls not distinct (source, symbol, ts, trade_id)
);
create index ticks_retention_idx on ticks (asset_class, ts);
create table candles (like public.candles including all);
create table candle_cutoffs (like public.candle_cutoffs including all);
create table bar_minutes (like public.bar_minutes including all);
create table rejected_ticks (like public.rejected_ticks including all);
`;

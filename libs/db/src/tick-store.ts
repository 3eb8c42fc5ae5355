import type { Bar, LiveCandle, RejectReason, Tick, Timeframe } from '@tickvault/schema';
import type { Sql } from './client.js';
import { candleAggregationSql, timeframeArrays } from './candle-sql.js';
import { lockSeries, seriesKey, writeBars, writePoints } from './bar-store.js';

export interface RejectionRow {
  source: string;
  symbol: string | null;
  reason: RejectReason;
  detail: string;
  sample: string;
  origin: 'ingest' | 'writer';
  /** `queue:jobId`, with position: the idempotency key of a rejection. */
  jobKey: string;
  position: number;
}

export interface TickBatch {
  ticks: readonly Tick[];
  /** Provider one-minute bars: each becomes its minute's candle (see bar-store.ts). */
  bars?: readonly Bar[];
  rejections: readonly RejectionRow[];
}

export interface WriteSettings {
  /** Candles kept per source, symbol and timeframe. */
  candleKeep: Readonly<Record<Timeframe, number>>;
}

export interface WriteResult {
  ticksReceived: number;
  ticksInserted: number;
  /** Macro points whose value was new or revised. */
  pointsChanged: number;
  barsReceived: number;
  /** Bars that created or changed their minute (an identical resend changes nothing). */
  barsWritten: number;
  candlesWritten: number;
  candlesCreated: number;
  /** Candle updates not applied because their bucket is older than what candle retention keeps. */
  candleUpdatesPastRetention: number;
  candlesTrimmed: number;
  rejectionsRecorded: number;
  /** The newest candle this batch changed, per source, symbol and timeframe. */
  latestCandles: LiveCandle[];
}

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
  on conflict (source, symbol, timeframe, open_time) do update set
    -- Only ticks inserted by this statement reach here, so adding volume counts each trade once.
    open = case when ${earlier('excluded', 'c')} then excluded.open else c.open end,
    first_trade_id = case when ${earlier('excluded', 'c')} then excluded.first_trade_id else c.first_trade_id end,
    first_ts = least(c.first_ts, excluded.first_ts),
    close = case when ${later('excluded', 'c')} then excluded.close else c.close end,
    last_trade_id = case when ${later('excluded', 'c')} then excluded.last_trade_id else c.last_trade_id end,
    last_ts = greatest(c.last_ts, excluded.last_ts),
    high = greatest(c.high, excluded.high),
    low = least(c.low, excluded.low),
    volume = c.volume + excluded.volume,
    trade_count = c.trade_count + excluded.trade_count,
    updated_at = now()
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

function orderKey(alias: string, edge: 'first' | 'last'): string {
  return `(${alias}.${edge}_ts, length(coalesce(${alias}.${edge}_trade_id, '')), coalesce(${alias}.${edge}_trade_id, '') collate "C")`;
}
function earlier(a: string, b: string): string {
  return `${orderKey(a, 'first')} < ${orderKey(b, 'first')}`;
}
function later(a: string, b: string): string {
  return `${orderKey(a, 'last')} > ${orderKey(b, 'last')}`;
}

const TRIM_CANDLES_SQL = `
with targets as (
  select * from unnest($1::text[], $2::text[], $3::text[], $4::int[]) as t(source, symbol, timeframe, keep)
),
cut as (
  -- Walks the primary key backwards 'keep' entries: cost is bounded by keep, not by table size.
  select t.source, t.symbol, t.timeframe,
    (select c.open_time from candles c
      where c.source = t.source and c.symbol = t.symbol and c.timeframe = t.timeframe
      order by c.open_time desc offset t.keep - 1 limit 1) as cutoff
  from targets t
),
remembered as (
  insert into candle_cutoffs (source, symbol, timeframe, cutoff)
  select source, symbol, timeframe, cutoff from cut where cutoff is not null
  order by source, symbol, timeframe
  on conflict (source, symbol, timeframe) do update set cutoff = greatest(candle_cutoffs.cutoff, excluded.cutoff)
),
deleted as (
  delete from candles c using cut
  where c.source = cut.source and c.symbol = cut.symbol and c.timeframe = cut.timeframe and c.open_time < cut.cutoff
  returning 1
)
select count(*)::int as trimmed from deleted
`;

/**
 * Writes one batch in one transaction: new ticks (idempotent), the candles they change, candle
 * retention for series that gained a candle, and the batch's rejections. Either all of it commits or none.
 */
export async function writeTickBatch(sql: Sql, batch: TickBatch, settings: WriteSettings): Promise<WriteResult> {
  // Trades are immutable and folded into candles; macro points are revisable and recomputed.
  const trades = batch.ticks.filter((t) => t.assetClass !== 'macro');
  const points = batch.ticks.filter((t) => t.assetClass === 'macro');
  const bars = batch.bars ?? [];
  return sql.begin(async (tx) => {
    const result: WriteResult = {
      ticksReceived: batch.ticks.length,
      ticksInserted: 0,
      pointsChanged: 0,
      barsReceived: bars.length,
      barsWritten: 0,
      candlesWritten: 0,
      candlesCreated: 0,
      candleUpdatesPastRetention: 0,
      candlesTrimmed: 0,
      rejectionsRecorded: 0,
      latestCandles: [],
    };
    const created: [string, string, Timeframe][] = [];
    if (bars.length > 0 || points.length > 0 || trades.length > 0) {
      await lockSeries(
        tx as unknown as Sql,
        [...new Set([...bars, ...points].map((x) => seriesKey(x.source, x.symbol)))],
        sharedKeysOf(trades),
      );
    }
    if (bars.length > 0) {
      const out = await writeBars(tx as unknown as Sql, bars);
      result.barsWritten = out.barsWritten;
      result.candlesWritten += out.written;
      result.candlesCreated += out.created.length;
      created.push(...out.created);
      result.latestCandles.push(...out.latest);
    }
    if (points.length > 0) {
      const out = await writePoints(tx as unknown as Sql, points);
      result.pointsChanged = out.pointsChanged;
      result.ticksInserted += out.pointsChanged;
      result.candlesWritten += out.written;
      result.candlesCreated += out.created.length;
      created.push(...out.created);
      result.latestCandles.push(...out.latest);
    }
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

async function insertRejections(sql: Sql, rows: readonly RejectionRow[]): Promise<number> {
  const inserted = await sql.unsafe(
    `insert into rejected_ticks (source, symbol, reason, detail, sample, origin, job_key, position)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])
     on conflict (job_key, origin, position) do nothing
     returning 1`,
    [
      rows.map((r) => r.source),
      rows.map((r) => r.symbol),
      rows.map((r) => r.reason),
      rows.map((r) => r.detail),
      rows.map((r) => r.sample),
      rows.map((r) => r.origin),
      rows.map((r) => r.jobKey),
      rows.map((r) => r.position),
    ] as never[],
  );
  return inserted.length;
}

import { TIMEFRAMES_BY_ASSET_CLASS, type AssetClass, type Timeframe } from '@tickvault/schema';
import { tradeOrderKey, tradeOrderKeyDesc } from './trade-order.js';

/** Timeframe table as parallel arrays, passed to SQL so the mapping lives only in the schema lib. */
export function timeframeArrays(): { assetClasses: string[]; timeframes: string[]; baseAssetClasses: string[]; baseTimeframes: string[] } {
  const assetClasses: string[] = [];
  const timeframes: string[] = [];
  const baseAssetClasses: string[] = [];
  const baseTimeframes: string[] = [];
  for (const [assetClass, tfs] of Object.entries(TIMEFRAMES_BY_ASSET_CLASS) as [AssetClass, readonly Timeframe[]][]) {
    for (const tf of tfs) {
      assetClasses.push(assetClass);
      timeframes.push(tf);
    }
    // Every larger bucket is a union of the smallest one's buckets, so ticks are sorted once, into the base.
    baseAssetClasses.push(assetClass);
    baseTimeframes.push(tfs[0]!);
  }
  return { assetClasses, timeframes, baseAssetClasses, baseTimeframes };
}

/**
 * Aggregates ticks from the relation `source` (columns source, symbol, asset_class, ts, price, size, trade_id)
 * into candle rows for every timeframe of their asset class. $base_ac/$base_tf and $all_ac/$all_tf are
 * placeholders for the timeframe arrays. Used by the writer (on newly inserted ticks only) and by verify
 * (on all ticks of a window), so both compute candles the same way.
 */
export function candleAggregationSql(
  relation: string,
  params: { baseAc: string; baseTf: string; allAc: string; allTf: string },
  options: { barMinutes?: 'skip' | 'use' } = {},
): string {
  // 'skip' (writer): a minute held by a provider bar already counts its trades, so they are not folded
  // into it or into larger candles again. 'use' (verify): such a minute contributes its bar instead.
  // bar_minutes outlives 1m retention, so a late trade for a trimmed bar minute is not counted again either.
  const barFilter = options.barMinutes
    ? `where not exists (select 1 from bar_minutes bm where bm.source = base_raw.source and bm.symbol = base_raw.symbol
         and bm.minute = base_raw.bucket)`
    : '';
  const barRows = options.barMinutes === 'use'
    ? `union all
    select bc.source, bc.symbol, r.asset_class, bc.open_time, bc.open, bc.first_trade_id, bc.close, bc.last_trade_id, bc.high, bc.low,
      bc.volume, bc.trade_count, bc.first_ts, bc.last_ts
    from candles bc join (select distinct source, symbol, asset_class from ${relation}) r using (source, symbol)
    where bc.timeframe = '1m' and bc.from_bar and bc.open_time >= $1 and bc.open_time < $2`
    : '';
  return `
  base_tf as (select * from unnest(${params.baseAc}::text[], ${params.baseTf}::text[]) as b(asset_class, timeframe)),
  all_tf as (select * from unnest(${params.allAc}::text[], ${params.allTf}::text[]) as a(asset_class, timeframe)),
  base_arrays as (
    -- Open and close travel with their trade id in one array, so each group is sorted twice, not four times.
    select i.source, i.symbol, i.asset_class, tv_bucket(b.timeframe, i.ts) as bucket,
      (array_agg(array[i.price::text, i.trade_id] order by ${tradeOrderKey('i.ts', 'i.trade_id')}))[1:1] as first,
      (array_agg(array[i.price::text, i.trade_id] order by ${tradeOrderKeyDesc('i.ts', 'i.trade_id')}))[1:1] as last,
      max(i.price) as high,
      min(i.price) as low,
      sum(i.size) as volume,
      count(*)::int as trade_count,
      min(i.ts) as first_ts,
      max(i.ts) as last_ts
    from ${relation} i join base_tf b using (asset_class)
    group by 1, 2, 3, 4
  ),
  base_raw as (
    select source, symbol, asset_class, bucket, first[1][1]::numeric as open, first[1][2] as first_trade_id,
      last[1][1]::numeric as close, last[1][2] as last_trade_id, high, low, volume, trade_count, first_ts, last_ts
    from base_arrays
  ),
  base as (
    select * from base_raw ${barFilter}
    ${barRows}
  ),
  agg_arrays as (
    select b.source, b.symbol, a.timeframe, tv_bucket(a.timeframe, b.bucket) as open_time,
      (array_agg(array[b.open::text, b.first_trade_id] order by ${tradeOrderKey('b.first_ts', 'b.first_trade_id')}))[1:1] as first,
      (array_agg(array[b.close::text, b.last_trade_id] order by ${tradeOrderKeyDesc('b.last_ts', 'b.last_trade_id')}))[1:1] as last,
      max(b.high) as high,
      min(b.low) as low,
      sum(b.volume) as volume,
      sum(b.trade_count)::int as trade_count,
      min(b.first_ts) as first_ts,
      max(b.last_ts) as last_ts
    from base b join all_tf a using (asset_class)
    group by 1, 2, 3, 4
  ),
  agg as (
    select source, symbol, timeframe, open_time, first[1][1]::numeric as open, high, low, last[1][1]::numeric as close,
      volume, trade_count, first_ts, first[1][2] as first_trade_id, last_ts, last[1][2] as last_trade_id
    from agg_arrays
  )`;
}

function orderKey(alias: string, edge: 'first' | 'last'): string {
  return `(${alias}.${edge}_ts, length(coalesce(${alias}.${edge}_trade_id, '')), coalesce(${alias}.${edge}_trade_id, '') collate "C")`;
}
function earlier(a: string, b: string): string {
  return `${orderKey(a, 'first')} < ${orderKey(b, 'first')}`;
}
function later(a: string, b: string): string {
  return `${orderKey(a, 'last')} > ${orderKey(b, 'last')}`;
}

/**
 * The merge of a folded candle (`excluded`) into the stored one (`c`): open/close by trade order, high/low
 * widened, volume and count added. Only trades the transaction inserted are folded, so adding counts each once.
 */
export const CANDLE_FOLD_MERGE = `
  on conflict (source, symbol, timeframe, open_time) do update set
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
`;

/** Candle retention for the series and timeframes that just gained a candle (both write paths). */
export const TRIM_CANDLES_SQL = `
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

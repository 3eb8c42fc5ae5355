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
export function candleAggregationSql(relation: string, params: { baseAc: string; baseTf: string; allAc: string; allTf: string }): string {
  return `
  base_tf as (select * from unnest(${params.baseAc}::text[], ${params.baseTf}::text[]) as b(asset_class, timeframe)),
  all_tf as (select * from unnest(${params.allAc}::text[], ${params.allTf}::text[]) as a(asset_class, timeframe)),
  base as (
    select i.source, i.symbol, i.asset_class, tv_bucket(b.timeframe, i.ts) as bucket,
      (array_agg(i.price order by ${tradeOrderKey('i.ts', 'i.trade_id')}))[1] as open,
      max(i.price) as high,
      min(i.price) as low,
      (array_agg(i.price order by ${tradeOrderKeyDesc('i.ts', 'i.trade_id')}))[1] as close,
      sum(i.size) as volume,
      count(*)::int as trade_count,
      min(i.ts) as first_ts,
      (array_agg(i.trade_id order by ${tradeOrderKey('i.ts', 'i.trade_id')}))[1] as first_trade_id,
      max(i.ts) as last_ts,
      (array_agg(i.trade_id order by ${tradeOrderKeyDesc('i.ts', 'i.trade_id')}))[1] as last_trade_id
    from ${relation} i join base_tf b using (asset_class)
    group by 1, 2, 3, 4
  ),
  agg as (
    select b.source, b.symbol, a.timeframe, tv_bucket(a.timeframe, b.bucket) as open_time,
      (array_agg(b.open order by ${tradeOrderKey('b.first_ts', 'b.first_trade_id')}))[1] as open,
      max(b.high) as high,
      min(b.low) as low,
      (array_agg(b.close order by ${tradeOrderKeyDesc('b.last_ts', 'b.last_trade_id')}))[1] as close,
      sum(b.volume) as volume,
      sum(b.trade_count)::int as trade_count,
      min(b.first_ts) as first_ts,
      (array_agg(b.first_trade_id order by ${tradeOrderKey('b.first_ts', 'b.first_trade_id')}))[1] as first_trade_id,
      max(b.last_ts) as last_ts,
      (array_agg(b.last_trade_id order by ${tradeOrderKeyDesc('b.last_ts', 'b.last_trade_id')}))[1] as last_trade_id
    from base b join all_tf a using (asset_class)
    group by 1, 2, 3, 4
  )`;
}

import type { Sql } from './client.js';
import { candleAggregationSql, timeframeArrays } from './candle-sql.js';

export interface CandleMismatch {
  source: string;
  symbol: string;
  timeframe: string;
  openTime: string;
  problem: 'missing' | 'unexpected' | 'different';
  stored: Record<string, string | number | null> | null;
  expected: Record<string, string | number | null> | null;
}

export interface VerifyOptions {
  from: Date;
  to: Date;
  source?: string;
  symbol?: string;
}

const TF = timeframeArrays();

/**
 * Recomputes candles from the stored ticks (and provider bars) and compares them with the stored candles.
 * Series with provider bars are checked only where the bars are still kept (from their 1m cutoff) and
 * only when the window holds some of their ticks; a bar-only series is the provider's word, not checked. Only candles
 * whose whole bucket lies in [from, to) are compared, and none older than what candle retention keeps,
 * so trimming and window edges do not show up as false mismatches.
 */
export async function verifyCandles(sql: Sql, options: VerifyOptions): Promise<{ checked: number; mismatches: CandleMismatch[] }> {
  const rows = await sql.unsafe<
    { source: string; symbol: string; timeframe: string; open_time: string; problem: CandleMismatch['problem']; stored: CandleMismatch['stored']; expected: CandleMismatch['expected']; checked: number }[]
  >(
    `
with window_ticks as (
  select source, symbol, asset_class, ts, price, size, trade_id from ticks
  where ts >= $1 and ts < $2 and ($3::text is null or source = $3) and ($4::text is null or symbol = $4)
),
${candleAggregationSql('window_ticks', { baseAc: '$5', baseTf: '$6', allAc: '$7', allTf: '$8' }, { barMinutes: 'use' })},
-- Series with provider bars: before their 1m cutoff the bars are gone, so only later buckets can be
-- recomputed; a series with bars and no ticks in the window has nothing to recompute from at all.
bar_series as (
  select b.source, b.symbol, k1.cutoff as cutoff_1m,
    exists (select 1 from window_ticks w where w.source = b.source and w.symbol = b.symbol) as has_ticks
  from (select distinct source, symbol from bar_minutes where minute >= $1 and minute < $2) b
  left join candle_cutoffs k1 on k1.source = b.source and k1.symbol = b.symbol and k1.timeframe = '1m'
),
expected as (
  select agg.* from agg
  left join candle_cutoffs k using (source, symbol, timeframe)
  left join bar_series bs using (source, symbol)
  where agg.open_time >= $1 and tv_bucket_end(agg.timeframe, agg.open_time) <= $2
    and (k.cutoff is null or agg.open_time >= k.cutoff)
    and (bs.source is null or (bs.has_ticks and agg.open_time >= coalesce(bs.cutoff_1m, '-infinity')))
),
stored as (
  select c.* from candles c
  left join bar_series bs on bs.source = c.source and bs.symbol = c.symbol
  where c.open_time >= $1 and c.open_time < $2 and tv_bucket_end(c.timeframe, c.open_time) <= $2
    and ($3::text is null or c.source = $3) and ($4::text is null or c.symbol = $4)
    and (bs.source is null or (bs.has_ticks and c.open_time >= coalesce(bs.cutoff_1m, '-infinity')))
),
compared as (
  select coalesce(s.source, e.source) as source, coalesce(s.symbol, e.symbol) as symbol,
    coalesce(s.timeframe, e.timeframe) as timeframe, coalesce(s.open_time, e.open_time) as open_time,
    case when s.source is null then 'missing' when e.source is null then 'unexpected' else 'different' end as problem,
    case when s.source is null then null else json_build_object('open', s.open::text, 'high', s.high::text, 'low', s.low::text,
      'close', s.close::text, 'volume', s.volume::text, 'trade_count', s.trade_count) end as stored,
    case when e.source is null then null else json_build_object('open', e.open::text, 'high', e.high::text, 'low', e.low::text,
      'close', e.close::text, 'volume', e.volume::text, 'trade_count', e.trade_count) end as expected,
    (s.source is null or e.source is null
      or s.open <> e.open or s.high <> e.high or s.low <> e.low or s.close <> e.close
      or s.volume <> e.volume or s.trade_count is distinct from e.trade_count) as bad
  from stored s full join expected e using (source, symbol, timeframe, open_time)
)
select source, symbol, timeframe, to_char(open_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as open_time,
  problem, stored, expected, (select count(*) from compared)::int as checked
from compared where bad
union all
select null, null, null, null, null, null, null, (select count(*) from compared)::int
order by 1 nulls last, 2, 3, 4
limit 1001`,
    [
      options.from,
      options.to,
      options.source ?? null,
      options.symbol ?? null,
      TF.baseAssetClasses,
      TF.baseTimeframes,
      TF.assetClasses,
      TF.timeframes,
    ] as never[],
  );
  const checked = rows[0]?.checked ?? 0;
  const mismatches = rows
    .filter((r) => r.source !== null)
    .map((r) => ({
      source: r.source,
      symbol: r.symbol,
      timeframe: r.timeframe,
      openTime: r.open_time,
      problem: r.problem,
      stored: r.stored,
      expected: r.expected,
    }));
  return { checked, mismatches };
}

import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bar, LiveCandle, RejectReason, Tick, Timeframe } from '@tickvault/schema';
import type { Sql } from './client.js';
import { lockSeries, seriesKey, writeBars, writePoints } from './bar-store.js';
import { CANDLE_FOLD_MERGE, TRIM_CANDLES_SQL } from './candle-sql.js';
import { ensureTickPartitions, isMissingPartition, utcDay } from './partitions.js';
import { foldTrades, isoToMicros, type FoldTrade, type FoldedCandle } from './trade-fold.js';

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
  /** Of the inserted trades, those that went in by COPY (newer than anything stored for their series). */
  ticksCopied: number;
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

interface SeriesTrades {
  id: number;
  source: string;
  symbol: string;
  /** Deduplicated by key, in arrival order. */
  trades: FoldTrade[];
}

const FIND_SERIES_SQL = `
select w.source, w.symbol, s.id,
  -- The newest stored trade at or after the batch's oldest one. Partition pruning keeps this to the
  -- partitions the batch touches (usually today's): one index probe each.
  (select (extract(epoch from r.ts) * 1000000)::bigint::text from tick_rows r
    where r.series_id = s.id and r.ts >= w.min_ts::timestamptz order by r.ts desc limit 1) as newest_us
from unnest($1::text[], $2::text[], $3::text[]) as w(source, symbol, min_ts)
left join series s on s.source = w.source and s.symbol = w.symbol`;

const ADD_SERIES_SQL = `
insert into series (source, symbol, asset_class)
select * from unnest($1::text[], $2::text[], $3::text[]) order by 1, 2
on conflict (source, symbol) do nothing`;

const INSERT_TRADES_SQL = `
insert into tick_rows (series_id, ts, trade_id, price, size)
select series_id, ts::timestamptz, trade_id, price::numeric, size::numeric
from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[]) as t(series_id, ts, trade_id, price, size)
-- One lock order for every writer, so concurrent batches cannot deadlock on the same keys.
order by 1, 2, 3
on conflict on constraint tick_rows_key do nothing
returning series_id, (extract(epoch from ts) * 1000000)::bigint::text as us, trade_id`;

const BAR_MINUTES_SQL = `
select b.source, b.symbol, (extract(epoch from b.minute) * 1000000)::bigint::text as us
from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as w(source, symbol, lo, hi)
join bar_minutes b on b.source = w.source and b.symbol = w.symbol and b.minute >= w.lo::timestamptz and b.minute <= w.hi::timestamptz`;

const UPSERT_CANDLES_SQL = `
with agg as (
  select source, symbol, timeframe, open_time::timestamptz as open_time, open::numeric as open, high::numeric as high,
    low::numeric as low, close::numeric as close, volume::numeric as volume, trade_count,
    first_ts::timestamptz as first_ts, first_trade_id, last_ts::timestamptz as last_ts, last_trade_id
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::int[], $11::text[], $12::text[], $13::text[], $14::text[])
    as a(source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count, first_ts, first_trade_id, last_ts, last_trade_id)
),
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
 *
 * Trades take one of two ways into `tick_rows`. Live feeds deliver each series in time order, so
 * most trades of a batch are newer than anything stored for their series: those cannot collide with
 * a stored row and go in by COPY, without a conflict probe per row. The rest (resends, late trades,
 * backfill, a tie with the newest stored instant) take INSERT … ON CONFLICT DO NOTHING. The look at
 * the newest stored trade stays true until commit because every trade write holds its series'
 * exclusive lock: no other writer can store the same trade in between (postgres.js cannot report a
 * COPY that fails at its end, so a COPY must never meet a conflict).
 */
export async function writeTickBatch(sql: Sql, batch: TickBatch, settings: WriteSettings): Promise<WriteResult> {
  // Trades are immutable and folded into candles; macro points are revisable and recomputed.
  const trades = batch.ticks.filter((t) => t.assetClass !== 'macro');
  const days = [...new Set(trades.map((t) => utcDay(t.ts)))];
  await ensureTickPartitions(sql, days);
  try {
    return await writeInTransaction(sql, batch, trades, days, settings);
  } catch (error) {
    // Retention dropped a day this process thought existed (another writer's trim): create it again.
    if (!isMissingPartition(error)) throw error;
    await ensureTickPartitions(sql, days, { recheck: true });
    return writeInTransaction(sql, batch, trades, days, settings);
  }
}

function writeInTransaction(sql: Sql, batch: TickBatch, trades: readonly Tick[], days: readonly string[], settings: WriteSettings): Promise<WriteResult> {
  const points = batch.ticks.filter((t) => t.assetClass === 'macro');
  const bars = batch.bars ?? [];
  return sql.begin(async (tx) => {
    const result: WriteResult = {
      ticksReceived: batch.ticks.length,
      ticksInserted: 0,
      ticksCopied: 0,
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
      await lockSeries(tx as unknown as Sql, [...new Set([...bars, ...points, ...trades].map((x) => seriesKey(x.source, x.symbol)))], []);
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
      const inserted = await insertTrades(tx as unknown as Sql, trades, days);
      result.ticksInserted += inserted.trades.length;
      result.ticksCopied = inserted.copied;
      const folded = foldTrades(await withoutBarMinutes(tx as unknown as Sql, inserted.trades));
      if (folded.length > 0) {
        const out = await upsertCandles(tx as unknown as Sql, folded);
        result.candlesWritten += out.written;
        result.candlesCreated += out.createdCount;
        result.candleUpdatesPastRetention = folded.length - out.written;
        result.latestCandles.push(...out.latest);
        created.push(...out.created);
      }
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

/** Stores the trades not stored yet; returns exactly those (the ones to fold into candles). */
async function insertTrades(tx: Sql, trades: readonly Tick[], days: readonly string[]): Promise<{ trades: FoldTrade[]; copied: number }> {
  const series = await resolveSeries(tx, groupBySeries(trades));
  // Reading tick_rows above locked it against retention's partition drops until commit: the days
  // checked now stay until then (a drop between the writer's check and this transaction is retried).
  const [partitions] = await tx<{ missing: string[] }[]>`
    select coalesce(array_agg(d), '{}') as missing from unnest(${days as string[]}::text[]) d
    where to_regclass('tick_rows_p' || replace(d, '-', '')) is null`;
  if (partitions!.missing.length > 0) {
    throw Object.assign(new Error(`tick partitions missing for ${partitions!.missing.join(', ')}`), { code: 'TICK_PARTITION_MISSING' });
  }
  const fresh: { series: SeriesTrades; trade: FoldTrade }[] = [];
  const probe: { series: SeriesTrades; trade: FoldTrade }[] = [];
  for (const s of series.values()) {
    for (const trade of s.trades) {
      if (s.newestUs === null || trade.us > s.newestUs) fresh.push({ series: s, trade });
      else probe.push({ series: s, trade });
    }
  }
  if (fresh.length > 0) await copyTrades(tx, fresh);
  const inserted: FoldTrade[] = fresh.map((f) => f.trade);
  if (probe.length > 0) {
    const rows = await tx.unsafe<{ series_id: number; us: string; trade_id: string | null }[]>(INSERT_TRADES_SQL, [
      probe.map((p) => p.series.id),
      probe.map((p) => p.trade.ts),
      probe.map((p) => p.trade.tradeId),
      probe.map((p) => p.trade.price),
      probe.map((p) => p.trade.size),
    ] as never[]);
    const byKey = new Map(probe.map((p) => [`${p.series.id}|${p.trade.us}|${p.trade.tradeId ?? ''}|${p.trade.tradeId === null}`, p.trade]));
    for (const row of rows) {
      const trade = byKey.get(`${row.series_id}|${row.us}|${row.trade_id ?? ''}|${row.trade_id === null}`);
      if (!trade) throw new Error(`inserted trade ${row.series_id}/${row.us}/${row.trade_id} not found in the batch`);
      inserted.push(trade);
    }
  }
  return { trades: inserted, copied: fresh.length };
}

interface GroupedSeries extends SeriesTrades {
  assetClass: string;
  minTs: string;
  minUs: number;
  newestUs: number | null;
}

function groupBySeries(trades: readonly Tick[]): Map<string, GroupedSeries> {
  const groups = new Map<string, GroupedSeries & { seen: Set<string> }>();
  for (const t of trades) {
    const key = `${t.source}\u0000${t.symbol}`;
    let group = groups.get(key);
    if (!group) {
      group = { id: 0, source: t.source, symbol: t.symbol, assetClass: t.assetClass, trades: [], minTs: t.ts, minUs: Infinity, newestUs: null, seen: new Set() };
      groups.set(key, group);
    }
    const us = isoToMicros(t.ts);
    // A trade sent twice in one batch (a resend landing next to the original) is stored and folded once.
    const id = `${us}|${t.tradeId ?? ''}|${t.tradeId === null}`;
    if (group.seen.has(id)) continue;
    group.seen.add(id);
    group.trades.push({ source: t.source, symbol: t.symbol, assetClass: t.assetClass, ts: t.ts, us, price: t.price, size: t.size, tradeId: t.tradeId });
    if (us < group.minUs) {
      group.minUs = us;
      group.minTs = t.ts;
    }
  }
  return groups;
}

/** Series ids (created on first sight) and each series' newest stored trade at or after the batch's oldest. */
async function resolveSeries(tx: Sql, groups: Map<string, GroupedSeries>): Promise<Map<string, GroupedSeries>> {
  const list = [...groups.values()];
  const find = () =>
    tx.unsafe<{ source: string; symbol: string; id: number | null; newest_us: string | null }[]>(FIND_SERIES_SQL, [
      list.map((g) => g.source),
      list.map((g) => g.symbol),
      list.map((g) => g.minTs),
    ] as never[]);
  let rows = await find();
  const missing = rows.filter((r) => r.id === null);
  if (missing.length > 0) {
    // Only unseen series are inserted: ON CONFLICT would spend an identity value per row and batch.
    const wanted = missing.map((r) => groups.get(`${r.source}\u0000${r.symbol}`)!);
    await tx.unsafe(ADD_SERIES_SQL, [wanted.map((g) => g.source), wanted.map((g) => g.symbol), wanted.map((g) => g.assetClass)] as never[]);
    rows = await find();
  }
  for (const row of rows) {
    const group = groups.get(`${row.source}\u0000${row.symbol}`)!;
    if (row.id === null) throw new Error(`series ${row.source}/${row.symbol} has no id after it was added`);
    group.id = row.id;
    group.newestUs = row.newest_us === null ? null : Number(row.newest_us);
  }
  return groups;
}

// COPY text format: backslash is the escape character; trade ids are visible ASCII and may hold one.
const copyText = (value: string): string => (value.includes('\\') ? value.replaceAll('\\', '\\\\') : value);
// Rows per chunk written to the COPY stream: large enough to amortize the stream's per-write cost.
const COPY_CHUNK_ROWS = 2_000;

async function copyTrades(tx: Sql, rows: readonly { series: SeriesTrades; trade: FoldTrade }[]): Promise<void> {
  const stream = (await tx`copy tick_rows (series_id, ts, trade_id, price, size) from stdin`.writable()) as Writable;
  function* chunks(): Generator<string> {
    for (let i = 0; i < rows.length; i += COPY_CHUNK_ROWS) {
      let text = '';
      for (const { series, trade } of rows.slice(i, i + COPY_CHUNK_ROWS)) {
        text += `${series.id}\t${trade.ts}\t${trade.tradeId === null ? '\\N' : copyText(trade.tradeId)}\t${trade.price}\t${trade.size}\n`;
      }
      yield text;
    }
  }
  await pipeline(Readable.from(chunks()), stream);
}

/** Trades of a minute a provider bar holds are stored but not folded: the bar already counts them. */
async function withoutBarMinutes(tx: Sql, trades: FoldTrade[]): Promise<FoldTrade[]> {
  if (trades.length === 0) return trades;
  const spans = new Map<string, { source: string; symbol: string; lo: string; loUs: number; hi: string; hiUs: number }>();
  for (const t of trades) {
    const key = `${t.source}\u0000${t.symbol}`;
    const span = spans.get(key);
    if (!span) spans.set(key, { source: t.source, symbol: t.symbol, lo: t.ts, loUs: t.us, hi: t.ts, hiUs: t.us });
    else {
      if (t.us < span.loUs) Object.assign(span, { lo: t.ts, loUs: t.us });
      if (t.us > span.hiUs) Object.assign(span, { hi: t.ts, hiUs: t.us });
    }
  }
  const list = [...spans.values()];
  const rows = await tx.unsafe<{ source: string; symbol: string; us: string }[]>(BAR_MINUTES_SQL, [
    list.map((s) => s.source),
    list.map((s) => s.symbol),
    // Minutes are bucket starts: the span starts at the minute of its oldest trade.
    list.map((s) => new Date(Math.floor(s.loUs / 60_000_000) * 60_000).toISOString()),
    list.map((s) => s.hi),
  ] as never[]);
  if (rows.length === 0) return trades;
  const held = new Set(rows.map((r) => `${r.source}\u0000${r.symbol}\u0000${r.us}`));
  return trades.filter((t) => !held.has(`${t.source}\u0000${t.symbol}\u0000${Math.floor(t.us / 60_000_000) * 60_000_000}`));
}

interface UpsertOutcome {
  written: number;
  createdCount: number;
  created: [string, string, Timeframe][];
  latest: LiveCandle[];
}

async function upsertCandles(tx: Sql, candles: readonly FoldedCandle[]): Promise<UpsertOutcome> {
  const [row] = await tx.unsafe<
    {
      candles_written: number;
      candles_created: number;
      created_series: [string, string, Timeframe][];
      latest_candles: [string, string, Timeframe, string, string, string, string, string, string, number][];
    }[]
  >(UPSERT_CANDLES_SQL, [
    candles.map((c) => c.source),
    candles.map((c) => c.symbol),
    candles.map((c) => c.timeframe),
    candles.map((c) => c.openTime),
    candles.map((c) => c.open),
    candles.map((c) => c.high),
    candles.map((c) => c.low),
    candles.map((c) => c.close),
    candles.map((c) => c.volume),
    candles.map((c) => c.tradeCount),
    candles.map((c) => c.firstTs),
    candles.map((c) => c.firstTradeId),
    candles.map((c) => c.lastTs),
    candles.map((c) => c.lastTradeId),
  ] as never[]);
  return {
    written: row!.candles_written,
    createdCount: row!.candles_created,
    created: row!.created_series,
    latest: row!.latest_candles.map(([source, symbol, timeframe, openTime, open, high, low, close, volume, tradeCount]) => ({
      source, symbol, timeframe, openTime, open, high, low, close, volume, tradeCount,
    })),
  };
}

export async function insertRejections(sql: Sql, rows: readonly RejectionRow[]): Promise<number> {
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

import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bar, LiveCandle, RejectReason, Tick, Timeframe } from '@tickvault/schema';
import type { Sql } from './client.js';
import { LATEST_CANDLES_JSON, lockSeries, seriesKey, toLiveCandles, writeBars, writePoints } from './bar-store.js';
import { CANDLE_FOLD_MERGE, TRIM_CANDLES_SQL } from './candle-sql.js';
import { claimDataEnvironmentForWrite, type DataEnvironment } from './data-environment.js';
import { ensureTickPartitions, isMissingPartition } from './partitions.js';
import { foldTrades, isoToMicros, tradeBefore, type FoldTrade, type FoldedCandle } from './trade-fold.js';

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
  /**
   * Records (or checks) the database's data environment in the transaction of a batch that carries
   * market data, before its first row. The writer passes it until one of its batches has stored a row.
   */
  dataEnvironment?: { environment: DataEnvironment; by: string };
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

const SERIES_IDS_SQL = `
select w.source, w.symbol, s.id
from unnest($1::text[], $2::text[]) as w(source, symbol)
left join series s on s.source = w.source and s.symbol = w.symbol`;

const ADD_SERIES_SQL = `
insert into series (source, symbol, asset_class)
select * from unnest($1::text[], $2::text[], $3::text[]) order by 1, 2
on conflict (source, symbol) do nothing`;

// The newest stored trade of each series at or after the batch's oldest one (partition pruning keeps
// this to the days the batch touches: one index probe each), and the batch's days that have no partition.
const NEWEST_SQL = `
select w.id, (select (extract(epoch from r.ts) * 1000000)::bigint::text from tick_rows r
    where r.series_id = w.id and r.ts >= w.min_ts::timestamptz order by r.ts desc limit 1) as newest_us,
  (select coalesce(array_agg(d), '{}') from unnest($3::text[]) d
    where to_regclass('tick_rows_p' || replace(d, '-', '')) is null) as missing_days
from unnest($1::int[], $2::text[]) as w(id, min_ts)`;

const INSERT_TRADES_SQL = `
insert into tick_rows (series_id, ts, trade_id, price, size)
select series_id, ts::timestamptz, trade_id, price::numeric, size::numeric
from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[]) as t(series_id, ts, trade_id, price, size)
-- One lock order for every writer, so concurrent batches cannot deadlock on the same keys.
order by 1, 2, 3
on conflict on constraint tick_rows_key do nothing
returning series_id, (extract(epoch from ts) * 1000000)::bigint::text as us, trade_id`;

// Trades stored, per series and UTC day: appended, never updated, so writers never wait on each other here.
const COUNT_DELTAS_SQL = `
insert into tick_count_deltas (series_id, day, n)
select * from unnest($1::int[], $2::date[], $3::bigint[])`;

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
  (select ${LATEST_CANDLES_JSON}
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
 * backfill, a tie with the newest stored instant) take INSERT … ON CONFLICT DO NOTHING. Trade writes
 * share their series' lock, so two writers' batches go in side by side; should both carry the same
 * new trade (a resend handled by two writers at once), the unique key makes the second COPY wait for
 * the first to commit and then fail, and its trades take the probing way (inside a savepoint, so
 * nothing is half-done).
 */
export async function writeTickBatch(sql: Sql, batch: TickBatch, settings: WriteSettings): Promise<WriteResult> {
  // Trades are immutable and folded into candles; macro points are revisable and recomputed.
  const trades = batch.ticks.filter((t) => t.assetClass !== 'macro');
  // Everything that does not depend on what is stored is done before the transaction, so the series
  // locks are held only for the database's work.
  const prepared = trades.length > 0 ? await prepareTrades(sql, trades) : undefined;
  if (prepared) await ensureTickPartitions(sql, prepared.days);
  try {
    return await writeInTransaction(sql, batch, trades, prepared, settings);
  } catch (error) {
    // Retention dropped a day this process thought existed (another writer's trim): create it again.
    if (!prepared || !isMissingPartition(error)) throw error;
    await ensureTickPartitions(sql, prepared.days, { recheck: true });
    return writeInTransaction(sql, batch, trades, prepared, settings);
  }
}

function writeInTransaction(sql: Sql, batch: TickBatch, trades: readonly Tick[], prepared: PreparedTrades | undefined, settings: WriteSettings): Promise<WriteResult> {
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
      // The label's row lock comes before the series locks, in every writer that takes both.
      if (settings.dataEnvironment) await claimDataEnvironmentForWrite(tx as unknown as Sql, settings.dataEnvironment.environment, settings.dataEnvironment.by);
      await lockSeries(
        tx as unknown as Sql,
        [...new Set([...bars, ...points].map((x) => seriesKey(x.source, x.symbol)))],
        [...new Set(trades.map((x) => seriesKey(x.source, x.symbol)))],
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
    if (prepared) {
      const inserted = await insertTrades(tx as unknown as Sql, prepared);
      result.ticksInserted += inserted.trades.length;
      await countInserted(tx as unknown as Sql, prepared, inserted.trades);
      result.ticksCopied = inserted.copied;
      const folded = await foldInserted(tx as unknown as Sql, prepared, inserted.trades);
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

interface PreparedSeries extends SeriesTrades {
  minTs: string;
  minUs: number;
  maxUs: number;
}

interface PreparedTrades {
  series: PreparedSeries[];
  days: string[];
  /** The candles of all the batch's trades: right when every trade is new and no bar holds its minute (the usual case). */
  foldedAll: FoldedCandle[];
  count: number;
}

/** Groups, deduplicates and renders the batch's trades and folds them, before any lock is taken. */
const DAY_US = 86_400_000_000;
const tradeKey = (t: FoldTrade): string => (t.tradeId === null ? `${t.us}` : `${t.us}|${t.tradeId}`);

async function prepareTrades(sql: Sql, trades: readonly Tick[]): Promise<PreparedTrades> {
  const groups = new Map<string, PreparedSeries & { assetClass: string; seen: Set<string> | undefined }>();
  const dayNumbers = new Set<number>();
  const all: FoldTrade[] = [];
  for (const t of trades) {
    const key = `${t.source}\u0000${t.symbol}`;
    let group = groups.get(key);
    if (!group) {
      group = { id: 0, source: t.source, symbol: t.symbol, assetClass: t.assetClass, trades: [], minTs: t.ts, minUs: Infinity, maxUs: -Infinity, seen: undefined };
      groups.set(key, group);
    }
    const trade: FoldTrade = { source: t.source, symbol: t.symbol, assetClass: t.assetClass, ts: t.ts, us: isoToMicros(t.ts), price: t.price, size: t.size, tradeId: t.tradeId };
    // A trade sent twice in one batch (a resend landing next to the original) is stored and folded once.
    // While a series' trades arrive in strict trade order none can repeat, so keys are kept only after the first step back.
    const last = group.trades.at(-1);
    if (group.seen === undefined && last !== undefined && !tradeBefore(last, trade)) group.seen = new Set(group.trades.map(tradeKey));
    if (group.seen !== undefined) {
      const id = tradeKey(trade);
      if (group.seen.has(id)) continue;
      group.seen.add(id);
    }
    group.trades.push(trade);
    all.push(trade);
    dayNumbers.add(Math.floor(trade.us / DAY_US));
    if (trade.us < group.minUs) {
      group.minUs = trade.us;
      group.minTs = t.ts;
    }
    if (trade.us > group.maxUs) group.maxUs = trade.us;
  }
  const days = [...dayNumbers].map((d) => new Date(d * 86_400_000).toISOString().slice(0, 10));
  const series = [...groups.values()];
  await resolveSeriesIds(sql, series);
  for (const s of series) {
    for (const trade of s.trades) {
      trade.line = (`${s.id}\t${trade.ts}\t${trade.tradeId === null ? '\\N' : copyText(trade.tradeId)}\t${trade.price}\t${trade.size}\n`);
    }
  }
  return { series, days, foldedAll: foldTrades(all), count: all.length };
}

/** Series ids, each series created on first sight. Ids never change, so this needs no lock. */
async function resolveSeriesIds(sql: Sql, series: (PreparedSeries & { assetClass: string })[]): Promise<void> {
  const find = () =>
    sql.unsafe<{ source: string; symbol: string; id: number | null }[]>(SERIES_IDS_SQL, [series.map((s) => s.source), series.map((s) => s.symbol)] as never[]);
  let rows = await find();
  const known = new Set(rows.filter((r) => r.id !== null).map((r) => `${r.source}\u0000${r.symbol}`));
  const missing = series.filter((s) => !known.has(`${s.source}\u0000${s.symbol}`));
  if (missing.length > 0) {
    // Only unseen series are inserted: ON CONFLICT would spend an identity value per row and batch.
    await sql.unsafe(ADD_SERIES_SQL, [missing.map((g) => g.source), missing.map((g) => g.symbol), missing.map((g) => g.assetClass)] as never[]);
    rows = await find();
  }
  const ids = new Map(rows.map((r) => [`${r.source}\u0000${r.symbol}`, r.id]));
  for (const s of series) {
    const id = ids.get(`${s.source}\u0000${s.symbol}`);
    if (id === null || id === undefined) throw new Error(`series ${s.source}/${s.symbol} has no id after it was added`);
    s.id = id;
  }
}

/** Adds the stored trades to their series' per-day counts (read by `seriesStats` at any table size). */
async function countInserted(tx: Sql, prepared: PreparedTrades, inserted: readonly FoldTrade[]): Promise<void> {
  if (inserted.length === 0) return;
  const ids = new Map(prepared.series.map((s) => [`${s.source}\u0000${s.symbol}`, s.id]));
  const counts = new Map<string, { id: number; day: number; n: number }>();
  for (const t of inserted) {
    const id = ids.get(`${t.source}\u0000${t.symbol}`)!;
    const day = Math.floor(t.us / DAY_US);
    const key = `${id}|${day}`;
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { id, day, n: 1 });
  }
  const rows = [...counts.values()];
  await tx.unsafe(COUNT_DELTAS_SQL, [
    rows.map((r) => r.id),
    rows.map((r) => new Date(r.day * 86_400_000).toISOString().slice(0, 10)),
    rows.map((r) => r.n),
  ] as never[]);
}

/** Stores the trades not stored yet; returns exactly those (the ones to fold into candles). */
async function insertTrades(tx: Sql, prepared: PreparedTrades): Promise<{ trades: FoldTrade[]; copied: number }> {
  const newest = await tx.unsafe<{ id: number; newest_us: string | null; missing_days: string[] }[]>(NEWEST_SQL, [
    prepared.series.map((s) => s.id),
    prepared.series.map((s) => s.minTs),
    prepared.days,
  ] as never[]);
  // Reading tick_rows locked it against retention's partition drops until commit: the days checked
  // now stay until then (a drop between the writer's check and this transaction is retried).
  const missing = newest[0]?.missing_days ?? [];
  if (missing.length > 0) {
    throw Object.assign(new Error(`tick partitions missing for ${missing.join(', ')}`), { code: 'TICK_PARTITION_MISSING' });
  }
  const newestById = new Map(newest.map((r) => [r.id, r.newest_us === null ? null : Number(r.newest_us)]));
  let copyText = '';
  const fresh: FoldTrade[] = [];
  const probe: { series: SeriesTrades; trade: FoldTrade }[] = [];
  for (const s of prepared.series) {
    const newestUs = newestById.get(s.id) ?? null;
    for (const trade of s.trades) {
      if (newestUs === null || trade.us > newestUs) {
        fresh.push(trade);
        copyText += trade.line!;
      } else probe.push({ series: s, trade });
    }
  }
  if (fresh.length > 0) {
    try {
      await (tx as unknown as { savepoint: <T>(fn: (sp: Sql) => Promise<T>) => Promise<T> }).savepoint((sp) => copyLines(sp, copyText));
    } catch (error) {
      // Another writer stored some of these trades since the look (a resend handled by two writers at
      // once): the whole lot takes the probing way instead.
      if ((error as { code?: unknown }).code !== '23505') throw error;
      const copied = new Set(fresh);
      for (const s of prepared.series) for (const trade of s.trades) if (copied.has(trade)) probe.push({ series: s, trade });
      fresh.length = 0;
    }
  }
  const inserted: FoldTrade[] = [...fresh];
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

/** The candles of the trades just inserted, without those of minutes a provider bar holds. */
async function foldInserted(tx: Sql, prepared: PreparedTrades, inserted: FoldTrade[]): Promise<FoldedCandle[]> {
  const kept = await withoutBarMinutes(tx, prepared, inserted);
  return kept.length === prepared.count ? prepared.foldedAll : foldTrades(kept);
}

// COPY text format: backslash is the escape character; trade ids are visible ASCII and may hold one.
const copyText = (value: string): string => (value.includes('\\') ? value.replaceAll('\\', '\\\\') : value);
// Characters per write to the COPY stream: large enough to amortize the stream's per-write cost.
const COPY_CHUNK_CHARS = 256 * 1024;

/**
 * COPY inside the caller's transaction. postgres.js reports an error that the server sends after the
 * data (a unique violation found when the last rows are inserted) only to the query's own reject,
 * never to the stream, which would then wait forever: the reject is watched too.
 */
export async function copyLines(tx: Sql, text: string): Promise<void> {
  const query = tx`copy tick_rows (series_id, ts, trade_id, price, size) from stdin` as unknown as Promise<unknown> & {
    reject: (error: unknown) => void;
    writable: () => Promise<Writable>;
  };
  let failed!: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  // postgres.js 4 reads `this` in reject: called detached it threw inside the driver (an uncaught
  // TypeError that killed the writer when a transaction's connection closed just before its COPY).
  const reject = query.reject;
  query.reject = (error) => {
    failed(error);
    reject.call(query, error);
  };
  const stream = await Promise.race([query.writable(), failure]);
  const written = pipeline(Readable.from(chunksOf(text)), stream);
  // After a failure the stream never settles, or settles late: nothing may wait on it then.
  written.catch(() => {});
  await Promise.race([written, failure]);
}

function* chunksOf(text: string): Generator<string> {
  for (let i = 0; i < text.length; i += COPY_CHUNK_CHARS) yield text.slice(i, i + COPY_CHUNK_CHARS);
}

/** Trades of a minute a provider bar holds are stored but not folded: the bar already counts them. */
async function withoutBarMinutes(tx: Sql, prepared: PreparedTrades, trades: FoldTrade[]): Promise<FoldTrade[]> {
  if (trades.length === 0) return trades;
  // The batch's span per series covers the inserted trades' span.
  const rows = await tx.unsafe<{ source: string; symbol: string; us: string }[]>(BAR_MINUTES_SQL, [
    prepared.series.map((s) => s.source),
    prepared.series.map((s) => s.symbol),
    // Minutes are bucket starts: the span starts at the minute of its oldest trade.
    prepared.series.map((s) => new Date(Math.floor(s.minUs / 60_000_000) * 60_000).toISOString()),
    prepared.series.map((s) => new Date(Math.ceil(s.maxUs / 1000)).toISOString()),
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
    latest: toLiveCandles(row!.latest_candles),
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

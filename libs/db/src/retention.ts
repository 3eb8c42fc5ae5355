import type { AssetClass } from '@tickvault/schema';
import type { Sql } from './client.js';
import { dropExpiredTickPartitions, ensureComingPartitions, foldTickCounts } from './partitions.js';

export interface TickHorizons {
  /** Ticks of an asset class older than this instant are deleted. */
  byAssetClass: Readonly<Record<AssetClass, Date>>;
}

// Audit rows are small but unbounded under hostile input; a month is enough to investigate an incident.
export const AUDIT_RETENTION_DAYS = 30;

export interface TrimResult {
  /** Macro points deleted plus the trades of dropped partitions (from the per-day counts: exact). */
  ticksDeleted: number;
  /** Daily trade partitions dropped (`tick_rows_pYYYYMMDD`). */
  partitionsDropped: string[];
  rejectionsDeleted: number;
  eventsDeleted: number;
  /** Gap records (filled, no_data, failed or never filled) that end before their series' tick horizon. */
  gapsDeleted: number;
  /** True when a chunk came back full: more is left to trim on the next run. */
  more: boolean;
}

/**
 * Crypto and stock trades live in daily partitions: whole days older than their horizon are dropped,
 * at a cost that does not grow with the table or with how much is dropped (so trades are kept for at
 * least their retention and at most a day longer). Macro points, a few a day, are deleted at most
 * `chunk` at a time through their age index; rows locked by a concurrent trim are skipped, so several
 * writers trimming at once do not wait on each other. The coming days' partitions are created here too.
 */
export async function trimExpired(sql: Sql, horizons: TickHorizons, chunk = 20_000): Promise<TrimResult> {
  let ticksDeleted = 0;
  let more = false;
  let partitionsDropped: string[] = [];
  await ensureComingPartitions(sql);
  await foldTickCounts(sql);
  // One table holds both classes: a day goes when it is past both horizons.
  const tradesBefore = new Date(Math.min(horizons.byAssetClass.crypto.getTime(), horizons.byAssetClass.stock.getTime()));
  try {
    const dropped = await dropExpiredTickPartitions(sql, tradesBefore);
    ticksDeleted += dropped.rows;
    partitionsDropped = dropped.partitions;
  } catch (error) {
    // 55P03: a writer held tick_rows past the lock timeout; the next run drops the day.
    if ((error as { code?: unknown }).code !== '55P03') throw error;
    more = true;
  }
  const [macro] = await sql<{ deleted: number }[]>`
    with doomed as (
      select ctid from macro_points where ts < ${horizons.byAssetClass.macro}
      order by ts limit ${chunk} for update skip locked
    ), gone as (delete from macro_points where ctid in (select ctid from doomed) returning 1)
    select count(*)::int as deleted from gone`;
  ticksDeleted += macro!.deleted;
  if (macro!.deleted === chunk) more = true;
  // Bar minutes matter only while trades for them are accepted: the older of the trade horizons.
  const barsBefore = new Date(Math.min(horizons.byAssetClass.crypto.getTime(), horizons.byAssetClass.stock.getTime()));
  await sql`
    with gone as (delete from bar_minutes where ctid in (
      select ctid from bar_minutes where minute < ${barsBefore} limit ${chunk} for update skip locked) returning 1)
    select count(*) from gone`;
  // A gap past the tick horizon can never be filled (its ticks would be refused as too old), and
  // every gap detection anti-joins the table: it goes with the ticks it was about.
  const [gaps] = await sql<{ deleted: number }[]>`
    with gone as (delete from gaps where ctid in (
      select ctid from gaps
      where range_end < case asset_class when 'macro' then ${horizons.byAssetClass.macro}::timestamptz
                                         when 'stock' then ${horizons.byAssetClass.stock}::timestamptz
                                         else ${horizons.byAssetClass.crypto}::timestamptz end
      limit ${chunk} for update skip locked) returning 1)
    select count(*)::int as deleted from gone`;
  if (gaps!.deleted === chunk) more = true;
  const auditBefore = new Date(Date.now() - AUDIT_RETENTION_DAYS * 86_400_000);
  const [rejections] = await sql<{ deleted: number }[]>`
    with gone as (delete from rejected_ticks where id in (
      select id from rejected_ticks where rejected_at < ${auditBefore} limit ${chunk}) returning 1)
    select count(*)::int as deleted from gone`;
  const [events] = await sql<{ deleted: number }[]>`
    with gone as (delete from system_events where id in (
      select id from system_events where ts < ${auditBefore} limit ${chunk}) returning 1)
    select count(*)::int as deleted from gone`;
  return { ticksDeleted, partitionsDropped, rejectionsDeleted: rejections!.deleted, eventsDeleted: events!.deleted, gapsDeleted: gaps!.deleted, more };
}

import type { AssetClass } from '@tickvault/schema';
import type { Sql } from './client.js';

export interface TickHorizons {
  /** Ticks of an asset class older than this instant are deleted. */
  byAssetClass: Readonly<Record<AssetClass, Date>>;
}

// Audit rows are small but unbounded under hostile input; a month is enough to investigate an incident.
export const AUDIT_RETENTION_DAYS = 30;

export interface TrimResult {
  ticksDeleted: number;
  rejectionsDeleted: number;
  eventsDeleted: number;
  /** True when a chunk came back full: more is left to trim on the next run. */
  more: boolean;
}

/**
 * Deletes at most `chunk` expired rows per asset class through the (asset_class, ts) index, so
 * a run touches only rows it deletes and never holds locks for long. Rows locked by a concurrent
 * trim are skipped, so several writers trimming at once do not wait on each other.
 */
export async function trimExpired(sql: Sql, horizons: TickHorizons, chunk = 20_000): Promise<TrimResult> {
  let ticksDeleted = 0;
  let more = false;
  for (const [assetClass, before] of Object.entries(horizons.byAssetClass)) {
    const [row] = await sql<{ deleted: number }[]>`
      with doomed as (
        -- The order keeps the planner on the (asset_class, ts) index: without it a cached generic plan
        -- turned into a sequential scan of the whole table for every trim smaller than a chunk (bench).
        select ctid from ticks where asset_class = ${assetClass} and ts < ${before}
        order by ts limit ${chunk} for update skip locked
      ), gone as (delete from ticks where ctid in (select ctid from doomed) returning 1)
      select count(*)::int as deleted from gone`;
    ticksDeleted += row!.deleted;
    if (row!.deleted === chunk) more = true;
  }
  // Bar minutes matter only while trades for them are accepted: the older of the trade horizons.
  const barsBefore = new Date(Math.min(horizons.byAssetClass.crypto.getTime(), horizons.byAssetClass.stock.getTime()));
  await sql`
    with gone as (delete from bar_minutes where ctid in (
      select ctid from bar_minutes where minute < ${barsBefore} limit ${chunk} for update skip locked) returning 1)
    select count(*) from gone`;
  const auditBefore = new Date(Date.now() - AUDIT_RETENTION_DAYS * 86_400_000);
  const [rejections] = await sql<{ deleted: number }[]>`
    with gone as (delete from rejected_ticks where id in (
      select id from rejected_ticks where rejected_at < ${auditBefore} limit ${chunk}) returning 1)
    select count(*)::int as deleted from gone`;
  const [events] = await sql<{ deleted: number }[]>`
    with gone as (delete from system_events where id in (
      select id from system_events where ts < ${auditBefore} limit ${chunk}) returning 1)
    select count(*)::int as deleted from gone`;
  return { ticksDeleted, rejectionsDeleted: rejections!.deleted, eventsDeleted: events!.deleted, more };
}

import type { Sql } from './client.js';

/**
 * Daily partitions of tick_rows. A trade can only be stored once its day has a partition, so the
 * writer makes sure of the days of a batch before its transaction (creating a partition locks the
 * parent table: never inside a write that holds other locks), and the maintenance run creates the
 * coming days ahead. Days known to exist are remembered per connection pool.
 */
const known = new WeakMap<Sql, Set<string>>();

export async function ensureTickPartitions(sql: Sql, days: readonly string[], options: { recheck?: boolean } = {}): Promise<number> {
  let seen = known.get(sql);
  if (!seen) known.set(sql, (seen = new Set()));
  if (options.recheck) seen.clear();
  const missing = days.filter((d) => !seen.has(d)).sort();
  if (missing.length === 0) return 0;
  let created = 0;
  // Contiguous runs in one call each; a batch usually spans one or two days.
  for (const [first, last] of runsOfDays(missing)) {
    const [row] = await sql<{ created: number }[]>`select tv_ensure_tick_partitions(${first}::date, ${last}::date) as created`;
    created += row!.created;
  }
  for (const d of missing) seen.add(d);
  return created;
}

function runsOfDays(sortedDays: readonly string[]): [string, string][] {
  const runs: [string, string][] = [];
  for (const day of sortedDays) {
    const last = runs.at(-1);
    if (last && Date.parse(`${day}T00:00:00Z`) - Date.parse(`${last[1]}T00:00:00Z`) === 86_400_000) last[1] = day;
    else runs.push([day, day]);
  }
  return runs;
}

/** "no partition of relation … found for row": a day retention dropped under this writer. */
export function isMissingPartition(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (e?.code === 'TICK_PARTITION_MISSING') return true;
  return e?.code === '23514' && typeof e.message === 'string' && e.message.includes('no partition of relation');
}

/** Creates the partitions from yesterday to `daysAhead` days ahead (UTC). */
export async function ensureComingPartitions(sql: Sql, daysAhead = 2): Promise<number> {
  const today = Date.now() - (Date.now() % 86_400_000);
  const days = [];
  for (let d = -1; d <= daysAhead; d++) days.push(new Date(today + d * 86_400_000).toISOString().slice(0, 10));
  return ensureTickPartitions(sql, days, { recheck: true });
}

/**
 * Drops the tick partitions whose whole day is older than `before`. Dropping needs a moment's
 * exclusive lock on tick_rows; the lock timeout keeps a busy writer from queueing behind it for
 * long (the next run tries again).
 */
export async function dropExpiredTickPartitions(sql: Sql, before: Date): Promise<{ partitions: string[]; approxRows: number }> {
  const rows = await sql.begin(async (tx) => {
    await tx`set local lock_timeout = '2s'`;
    // Rows come from the planner's statistics (0 for a partition never analyzed): counting would cost what dropping saves.
    return tx<{ partition: string; approx_rows: string }[]>`select partition, approx_rows::text from tv_drop_tick_partitions(${before})`;
  });
  known.get(sql)?.clear();
  return { partitions: rows.map((r) => r.partition), approxRows: rows.reduce((n, r) => n + Number(r.approx_rows), 0) };
}

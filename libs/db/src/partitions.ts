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
export async function dropExpiredTickPartitions(sql: Sql, before: Date): Promise<{ partitions: string[]; rows: number }> {
  const out = await sql.begin(async (tx) => {
    await tx`set local lock_timeout = '2s'`;
    const dropped = await tx<{ partition: string }[]>`select partition from tv_drop_tick_partitions(${before})`;
    const days = dropped.map((d) => d.partition.replace(/^tick_rows_p(\d{4})(\d{2})(\d{2})$/, '$1-$2-$3'));
    if (days.length === 0) return { partitions: [], rows: 0 };
    // The days' counts go with them, and say exactly how many trades went.
    const [gone] = await tx<{ n: string }[]>`
      with counted as (delete from tick_counts where day = any(${days}::date[]) returning n),
           pending as (delete from tick_count_deltas where day = any(${days}::date[]) returning n)
      select (coalesce((select sum(n) from counted), 0) + coalesce((select sum(n) from pending), 0))::text as n`;
    return { partitions: dropped.map((d) => d.partition), rows: Number(gone!.n) };
  });
  known.get(sql)?.clear();
  return out;
}

/**
 * Folds the writers' appended count deltas into tick_counts. Rows another run is folding are skipped,
 * so runs on several writers never wait on each other; a delta is folded exactly once.
 */
export async function foldTickCounts(sql: Sql): Promise<number> {
  const [row] = await sql<{ folded: number }[]>`
    with moved as (
      delete from tick_count_deltas where ctid in (select ctid from tick_count_deltas for update skip locked)
      returning series_id, day, n
    ), summed as (
      insert into tick_counts as c (series_id, day, n)
      select series_id, day, sum(n) from moved group by 1, 2 order by 1, 2
      on conflict (series_id, day) do update set n = c.n + excluded.n
      returning 1
    )
    select count(*)::int as folded from summed`;
  return row!.folded;
}

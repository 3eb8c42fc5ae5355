import type { Sql } from './client.js';

export const DATA_ENVIRONMENTS = ['live', 'demo', 'test'] as const;
export type DataEnvironment = (typeof DATA_ENVIRONMENTS)[number];

export class DataEnvironmentMismatchError extends Error {
  constructor(
    readonly recorded: string,
    readonly wanted: string,
  ) {
    super(
      `this database holds ${recorded} data, but DATA_ENVIRONMENT=${wanted}: refusing to mix them. ` +
        `Point DATABASE_URL at a ${wanted} database, set DATA_ENVIRONMENT=${recorded}, or relabel this one ` +
        `deliberately with \`npm run tickvault -- data-environment --set ${wanted} --force\``,
    );
    this.name = 'DataEnvironmentMismatchError';
  }
}

export async function recordedDataEnvironment(sql: Sql): Promise<string | null> {
  const [row] = await sql<{ value: string }[]>`select value from tickvault_meta where key = 'data_environment'`;
  return row?.value ?? null;
}

/**
 * Whether the database holds market data: trades, macro points or candles (provider bars are candles).
 * Rejections, events and health records describe the runs, not the market, and do not count.
 */
export async function holdsMarketData(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ held: boolean }[]>`
    select exists (select 1 from tick_rows) or exists (select 1 from macro_points) or exists (select 1 from candles) as held`;
  return row!.held;
}

export type DataEnvironmentCheck =
  | { state: 'unlabelled' | 'same'; recorded: string | null }
  /** Labelled otherwise but empty (a run that stored nothing): the first stored row relabels it. */
  | { state: 'empty-other'; recorded: string };

/**
 * A writer's startup check. A label with data behind it must match; an empty database takes whichever
 * environment first stores a row in it, so nothing is written here: the label goes in with the first
 * stored row (`claimDataEnvironmentForWrite`), and a run that stored nothing leaves no trace.
 */
export async function checkDataEnvironment(sql: Sql, wanted: DataEnvironment): Promise<DataEnvironmentCheck> {
  const recorded = await recordedDataEnvironment(sql);
  if (recorded === null || recorded === wanted) return { state: recorded === null ? 'unlabelled' : 'same', recorded };
  if (await holdsMarketData(sql)) throw new DataEnvironmentMismatchError(recorded, wanted);
  return { state: 'empty-other', recorded };
}

/**
 * Records or checks the label inside a write transaction, before its first row, so the label and the
 * data it describes commit together. The label row is locked for the rest of the transaction: a
 * writer of another environment claiming at the same time waits, then sees this data and refuses.
 * A label of another environment on a database without market data is replaced (it came from a run
 * that stored nothing, or from data retention has since removed). The data check is a statement of
 * its own, so it sees whatever committed while this one waited for the lock.
 */
export async function claimDataEnvironmentForWrite(tx: Sql, wanted: DataEnvironment, by: string): Promise<void> {
  const inserted = await tx`
    insert into tickvault_meta (key, value, set_by) values ('data_environment', ${wanted}, ${by})
    on conflict (key) do nothing returning value`;
  if (inserted.length > 0) return;
  const [row] = await tx<{ value: string }[]>`select value from tickvault_meta where key = 'data_environment' for update`;
  if (row!.value === wanted) return;
  if (await holdsMarketData(tx)) throw new DataEnvironmentMismatchError(row!.value, wanted);
  await tx`update tickvault_meta set value = ${wanted}, set_by = ${by}, set_at = now() where key = 'data_environment'`;
}

/** An operator's explicit relabel (the CLI's --set; --force when the database holds data). */
export async function setDataEnvironment(sql: Sql, value: DataEnvironment, by: string): Promise<void> {
  await sql`
    insert into tickvault_meta (key, value, set_by) values ('data_environment', ${value}, ${by})
    on conflict (key) do update set value = excluded.value, set_by = excluded.set_by, set_at = now()`;
}

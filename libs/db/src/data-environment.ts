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
 * Claims an unlabelled database for `wanted`, or checks that it already holds `wanted` data.
 * The first writer labels it; every later writer (and restart) must agree.
 */
export async function claimDataEnvironment(sql: Sql, wanted: DataEnvironment, by: string): Promise<void> {
  await sql`insert into tickvault_meta (key, value, set_by) values ('data_environment', ${wanted}, ${by}) on conflict (key) do nothing`;
  const recorded = await recordedDataEnvironment(sql);
  if (recorded !== wanted) throw new DataEnvironmentMismatchError(recorded ?? '(none)', wanted);
}

/** An operator's explicit relabel (the CLI's --force). */
export async function setDataEnvironment(sql: Sql, value: DataEnvironment, by: string): Promise<void> {
  await sql`
    insert into tickvault_meta (key, value, set_by) values ('data_environment', ${value}, ${by})
    on conflict (key) do update set value = excluded.value, set_by = excluded.set_by, set_at = now()`;
}

import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import shift from 'postgres-shift';
import { parseConnectionUrl, withDatabase } from '@tickvault/config';
import { createDb, type Sql } from './client.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** The schema version this build expects: the number of the newest migration it ships. */
export const EXPECTED_SCHEMA_VERSION = readdirSync(MIGRATIONS_DIR)
  .filter((name) => /^\d{5}_/.test(name))
  .map((name) => Number(name.slice(0, 5)))
  .reduce((a, b) => Math.max(a, b), 0);

// Any constant works; it only has to be the same for every tickvault process.
const MIGRATION_LOCK_KEY = 7_411_226_001;

export interface MigrateResult {
  from: number;
  to: number;
  applied: string[];
  createdDatabase: boolean;
}

/**
 * Applies pending migrations (postgres-shift, one transaction) under an advisory lock, so
 * several `migrate` runs at once (compose, k8s Job retries) apply each migration exactly once.
 * Creates the database first if the server has none by that name.
 */
export async function migrate(url: string): Promise<MigrateResult> {
  const createdDatabase = await createDatabaseIfMissing(url);
  const lockHolder = createDb(url, { max: 1, applicationName: 'tickvault-migrate-lock' });
  const sql = createDb(url, { max: 1, applicationName: 'tickvault-migrate' });
  try {
    await lockHolder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const from = await currentSchemaVersion(sql);
    const applied: string[] = [];
    await shift({ sql, path: MIGRATIONS_DIR, before: ({ migration_id, name }) => applied.push(`${migration_id} ${name}`) });
    const to = await currentSchemaVersion(sql);
    await lockHolder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    return { from, to, applied, createdDatabase };
  } finally {
    await Promise.all([sql.end({ timeout: 5 }), lockHolder.end({ timeout: 5 })]);
  }
}

/**
 * Applies the migrations up to `version` only (tests and the benchmark build databases of an older
 * schema to migrate from). The database must exist.
 */
export async function migrateTo(url: string, version: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tickvault-migrations-'));
  const sql = createDb(url, { max: 1, applicationName: 'tickvault-migrate' });
  try {
    for (const name of readdirSync(MIGRATIONS_DIR).filter((n) => /^\d{5}_/.test(n) && Number(n.slice(0, 5)) <= version)) {
      cpSync(join(MIGRATIONS_DIR, name), join(dir, name), { recursive: true });
    }
    await shift({ sql, path: dir });
  } finally {
    await sql.end({ timeout: 5 });
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function currentSchemaVersion(sql: Sql): Promise<number> {
  const [table] = await sql<{ exists: boolean }[]>`select to_regclass('migrations') is not null as exists`;
  if (!table?.exists) return 0;
  const [row] = await sql<{ version: number | null }[]>`select max(migration_id)::int as version from migrations`;
  return row?.version ?? 0;
}

export class SchemaMismatchError extends Error {
  constructor(
    readonly current: number,
    readonly expected: number,
  ) {
    super(
      current < expected
        ? `database schema is at version ${current}, this build needs ${expected}: run \`npm run tickvault -- migrate\` (or the compose \`migrate\` service) first`
        : `database schema is at version ${current}, newer than this build (${expected}): deploy the matching tickvault version`,
    );
    this.name = 'SchemaMismatchError';
  }
}

/** Services call this at startup and refuse to run against a database of another schema version. */
export async function assertSchemaCurrent(sql: Sql): Promise<number> {
  const current = await currentSchemaVersion(sql);
  if (current !== EXPECTED_SCHEMA_VERSION) throw new SchemaMismatchError(current, EXPECTED_SCHEMA_VERSION);
  return current;
}

async function createDatabaseIfMissing(url: string): Promise<boolean> {
  // By hand, not URL: a multi-host URL (failover) keeps its hosts and target_session_attrs, so the
  // database is created on the primary.
  const name = parseConnectionUrl(url)?.database;
  if (!name) return false;
  const sql = createDb(withDatabase(url, 'postgres'), { max: 1, applicationName: 'tickvault-migrate' });
  try {
    const [row] = await sql<{ exists: boolean }[]>`select exists(select 1 from pg_database where datname = ${name}) as exists`;
    if (row?.exists) return false;
    try {
      await sql`create database ${sql(name)}`;
      return true;
    } catch (error) {
      // 42P04: another migrate run created it first.
      if ((error as { code?: string }).code === '42P04') return false;
      throw error;
    }
  } catch (error) {
    // No access to the maintenance database (managed Postgres): the target must already exist.
    if ((error as { code?: string }).code === '3D000' || (error as { code?: string }).code === '42501') return false;
    throw error;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

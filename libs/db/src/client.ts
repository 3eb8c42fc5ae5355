import postgres from 'postgres';

export type Sql = postgres.Sql;

export interface DbOptions {
  /** Pool size. Each writer replica holds this many connections; see README for the budget. */
  max?: number;
  applicationName?: string;
  connectTimeoutSeconds?: number;
  statementTimeoutMs?: number;
  /** Schemas searched for unqualified names (the benchmark's v1 baseline runs in a schema of its own). */
  searchPath?: string;
}

export function createDb(url: string, options: DbOptions = {}): Sql {
  // The driver sets TCP_NODELAY itself (since 4.0): a COPY's small CopyDone is not held back by Nagle.
  return postgres(url, {
    max: options.max ?? 4,
    // Fail a connection attempt quickly so readiness and retries notice an outage within seconds.
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    // Idle connections are closed so a restarted Postgres is not met with a pool of dead sockets.
    idle_timeout: 30,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName ?? 'tickvault',
      TimeZone: 'UTC',
      // Server-side bounds: no statement or abandoned transaction holds locks for long.
      statement_timeout: options.statementTimeoutMs ?? 60_000,
      idle_in_transaction_session_timeout: 60_000,
      ...(options.searchPath ? { search_path: options.searchPath } : {}),
    },
  });
}

/**
 * postgres.js has no client-side deadline: a proxy that accepts and drops connections, or a
 * half-open socket, leaves a query pending for minutes. Callers that must notice an outage race
 * their query against this.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} took longer than ${ms} ms`), { code: 'CLIENT_DEADLINE' })), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export type DbErrorClass =
  /** This data can never be written (bad value, constraint): fail the job, keep the others. */
  | 'data'
  /** A lost race with another transaction (deadlock, serialization): retry the same batch now. */
  | 'retry'
  /** The database cannot take writes right now: keep the data queued until it can. */
  | 'outage';

/**
 * Sorts a write failure. Only SQLSTATE classes 22 (data exception) and 23 (integrity) and errors
 * of our own code are about the data; every other database error (connection, read-only replica
 * after a failover, disk full, timeouts, missing table) is about the database, and retrying the
 * job against it would only spend its attempts.
 */
export function classifyDbError(error: unknown): DbErrorClass {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '40001' || code === '40P01') return 'retry';
  if (isConnectionError(error) || code === 'CLIENT_DEADLINE') return 'outage';
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return code.startsWith('22') || code.startsWith('23') ? 'data' : 'outage';
  }
  return 'data';
}

/**
 * 3D000, the server answering that the database does not exist, is not an outage to wait out:
 * `migrate` creates it. What to tell the operator, or undefined for any other error.
 */
export function missingDatabaseProblem(error: unknown): string | undefined {
  if ((error as { code?: unknown } | null)?.code !== '3D000') return undefined;
  return `${(error as Error).message} (3D000): run \`npm run tickvault -- migrate\`, which creates it`;
}

/** Errors that mean "the database is not reachable right now", as opposed to "this data is wrong". */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'CONNECT_TIMEOUT' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_ENDED' ||
    code === 'CONNECTION_DESTROYED' ||
    // Class 08: connection exception; 57P0x: admin shutdown, crash shutdown, cannot connect now.
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    // 53300: too many connections; transient by nature.
    code === '53300'
  );
}

/** Whether the database answers within `deadlineMs` and takes writes (not a replica in recovery, not read-only). */
export async function probeWritable(sql: Sql, deadlineMs: number): Promise<boolean> {
  const [row] = await withDeadline(
    sql<{ writable: boolean }[]>`select not pg_is_in_recovery() and current_setting('transaction_read_only') = 'off' as writable`,
    deadlineMs,
    'Postgres write probe',
  );
  return row?.writable === true;
}

/**
 * Cancels the running statement of every transaction of `applicationName` that began more than
 * `olderThanMs` ago: its client gave up on it at its deadline, and it would otherwise keep running and
 * holding locks; the cancelled statement aborts its transaction. A transaction idle between statements
 * is left to idle_in_transaction_session_timeout: its code still runs, and cancelling is enough to end
 * the transaction without dropping a pooled connection.
 * Returns how many statements were cancelled.
 */
export async function stopOverrunTransactions(sql: Sql, applicationName: string, olderThanMs: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(nullif(pg_cancel_backend(pid), false))::int as n
    from pg_stat_activity
    where application_name = ${applicationName} and pid <> pg_backend_pid() and state = 'active'
      and xact_start < now() - ${olderThanMs} * interval '1 millisecond'`;
  return row?.n ?? 0;
}

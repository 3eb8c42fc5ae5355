import postgres from 'postgres';

export type Sql = postgres.Sql;

export interface DbOptions {
  /** Pool size. Each writer replica holds this many connections; see README for the budget. */
  max?: number;
  applicationName?: string;
  connectTimeoutSeconds?: number;
}

export function createDb(url: string, options: DbOptions = {}): Sql {
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
    },
  });
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
    code === '53300' ||
    // Serialization failure and deadlock: retrying the same batch is correct.
    code === '40001' ||
    code === '40P01'
  );
}

import { describeHosts } from '@tickvault/config';
import { isConnectionError, withDeadline, type Sql } from './client.js';

/** Where reads go when the read replica cannot answer: `none` (the read fails, naming the replica) or `primary`. */
export type ReadFallback = 'none' | 'primary';

export interface ReplicaStatus {
  /** False once the server is no longer a standby (promoted, or DATABASE_READ_URL names a primary). */
  standby: boolean;
  /**
   * Seconds the replica is behind: 0 when it has replayed all the WAL the primary has written, else the
   * time since the last transaction it replayed was committed (an upper bound while the primary is
   * quiet). Without the primary to compare with, that time alone. Null before it replayed anything.
   */
  lagSeconds: number | null;
  /** WAL the primary has written that the replica has not replayed yet; null when the primary could not be asked. */
  behindBytes: number | null;
  /** WAL the replica has received but not replayed yet. */
  pendingReplayBytes: number;
  /** Commit time of the last transaction replayed. */
  lastReplayAt: string | null;
}

/** How far behind `replica` is; `primary`, when it answers, gives the exact WAL distance. */
export async function replicaStatus(replica: Sql, primary?: Sql, deadlineMs = 5_000): Promise<ReplicaStatus> {
  const [row] = await withDeadline(
    replica<{ standby: boolean; replay_lsn: string | null; pending: number | null; last_replay_at: Date | null; since_replay: number | null }[]>`
      select pg_is_in_recovery() as standby,
        pg_last_wal_replay_lsn()::text as replay_lsn,
        coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8 as pending,
        pg_last_xact_replay_timestamp() as last_replay_at,
        extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp())::float8 as since_replay`,
    deadlineMs,
    'read replica status',
  );
  if (!row!.standby) return { standby: false, lagSeconds: 0, behindBytes: 0, pendingReplayBytes: 0, lastReplayAt: null };
  let behindBytes: number | null = null;
  if (primary && row!.replay_lsn) {
    const [diff] = await withDeadline(
      primary<{ behind: number }[]>`select greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), ${row!.replay_lsn}::pg_lsn), 0)::float8 as behind`,
      deadlineMs,
      'primary WAL position',
    ).catch(() => [undefined]);
    behindBytes = diff?.behind ?? null;
  }
  const lagSeconds = behindBytes === 0 ? 0 : row!.since_replay === null ? null : Math.max(0, row!.since_replay);
  return { standby: true, lagSeconds, behindBytes, pendingReplayBytes: row!.pending ?? 0, lastReplayAt: row!.last_replay_at?.toISOString() ?? null };
}

/** The read replica does not answer and DATABASE_READ_FALLBACK is none: the read fails, naming it. */
export class ReadReplicaUnavailableError extends Error {
  readonly code = 'READ_REPLICA_UNAVAILABLE';
  constructor(
    readonly hosts: string,
    readonly causeCode: string | undefined,
  ) {
    super(`read replica (DATABASE_READ_URL ${hosts}) unavailable${causeCode ? ` (${causeCode})` : ''}; DATABASE_READ_FALLBACK=none keeps reads off the primary`);
    this.name = 'ReadReplicaUnavailableError';
  }
}

export interface ReadRouterOptions {
  /** The primary (or the one database when no replica is configured). */
  primary: Sql;
  /** The read replica (DATABASE_READ_URL), when configured, and its URL (for messages: hosts only). */
  replica?: { sql: Sql; url: string };
  fallback: ReadFallback;
  /** Told each time a read went to the primary because the replica did not answer. */
  onFallback?: (error: unknown) => void;
}

export type ReadSource = 'primary' | 'replica';

/**
 * Sends reads to the read replica when one is configured. When it does not answer (a connection error
 * or a deadline: not a bad query), the read goes to the primary only with fallback `primary`;
 * otherwise it fails with ReadReplicaUnavailableError, never reading the primary silently.
 */
export class ReadRouter {
  readonly replicaHosts: string | undefined;

  constructor(private readonly options: ReadRouterOptions) {
    this.replicaHosts = options.replica ? describeHosts(options.replica.url) : undefined;
  }

  /** Where reads go when everything answers. */
  get target(): ReadSource {
    return this.options.replica ? 'replica' : 'primary';
  }

  get fallback(): ReadFallback {
    return this.options.fallback;
  }

  async read<T>(work: (sql: Sql) => Promise<T>): Promise<{ value: T; from: ReadSource }> {
    const replica = this.options.replica;
    if (!replica) return { value: await work(this.options.primary), from: 'primary' };
    try {
      return { value: await work(replica.sql), from: 'replica' };
    } catch (error) {
      if (!replicaDown(error)) throw error;
      if (this.options.fallback !== 'primary') throw new ReadReplicaUnavailableError(this.replicaHosts!, (error as { code?: string }).code);
      this.options.onFallback?.(error);
      return { value: await work(this.options.primary), from: 'primary' };
    }
  }

  /** The replica's lag (null without a replica); rejects with ReadReplicaUnavailableError when it does not answer. */
  async status(): Promise<ReplicaStatus | null> {
    const replica = this.options.replica;
    if (!replica) return null;
    try {
      return await replicaStatus(replica.sql, this.options.primary);
    } catch (error) {
      if (replicaDown(error)) throw new ReadReplicaUnavailableError(this.replicaHosts!, (error as { code?: string }).code);
      throw error;
    }
  }
}

function replicaDown(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // 57014: statement timeout (the replica is too slow to answer); CLIENT_DEADLINE: ours.
  return isConnectionError(error) || code === 'CLIENT_DEADLINE' || code === '57014';
}

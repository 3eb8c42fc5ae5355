import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { eventually } from './process.js';
import { freePort } from './redis-server.js';

// A server command on a starved machine (tests run at nice 19 beside busy loops) can take minutes:
// initdb was seen past 90 s there. Generous limits; a healthy machine takes a second or two.
const WAIT_SECONDS = '300';
const COMMAND_TIMEOUT_MS = 330_000;

/** The server binaries: CHAOS_PG_BIN, else the newest /usr/lib/postgresql/<major>/bin (Debian), else `pg_config --bindir`. */
function postgresBinDir(): string {
  if (process.env.CHAOS_PG_BIN) return process.env.CHAOS_PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (majors[0]) return join(root, majors[0], 'bin');
  return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
}

/**
 * A PostgreSQL cluster in a temp dir on a free loopback port (trust authentication, user postgres,
 * replication allowed from loopback), that a test can stop, restart, copy into a streaming replica and
 * promote. PostgreSQL refuses to run as root: as root, every server command runs as the `postgres`
 * user (runuser), in a directory that user owns.
 */
export class PostgresCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'tv-test-pg-'));
  readonly bin = postgresBinDir();
  port = 0;
  private readonly asRoot = process.getuid?.() === 0;

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A new cluster of its own (initdb). */
  async init(): Promise<void> {
    await this.prepareDir();
    await this.run('initdb', ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  }

  /**
   * A streaming replica of `primary` (running): `pg_basebackup -R` copies it and writes the standby
   * settings, so start() runs it as a hot standby following the primary.
   */
  async initReplicaOf(primary: PostgresCluster): Promise<void> {
    await this.prepareDir();
    await this.run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', this.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${join(this.dir, 'socket')} -c listen_addresses=127.0.0.1 -c max_connections=60 -c log_min_messages=warning`;
    await this.run('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-o', options, '-w', '-t', WAIT_SECONDS, 'start']);
  }

  /** `fast`: backends are terminated, transactions rolled back, a clean shutdown. `immediate`: a crash; the next start recovers from WAL. */
  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    await this.run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', WAIT_SECONDS, 'stop']);
  }

  /** A standby becomes a primary (`pg_ctl promote`, waiting until it takes writes). */
  async promote(): Promise<void> {
    await this.run('pg_ctl', ['-D', this.dataDir, '-w', '-t', WAIT_SECONDS, 'promote']);
  }

  /** The postmaster's pid, or undefined when it is not running. */
  postmasterPid(): number | undefined {
    try {
      return Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  }

  /**
   * The machine dies at once: the postmaster and every process it started are frozen (SIGSTOP), then
   * killed (SIGKILL), so none of them does anything more, not even a shutdown step or sending WAL.
   */
  killAll(): void {
    const postmaster = this.postmasterPid();
    if (postmaster === undefined) return;
    const pids = [postmaster, ...childPids(postmaster)];
    for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
      for (const pid of pids) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    }
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Stops the server if it runs (immediate) and removes its directory. */
  async destroy(): Promise<void> {
    if (this.postmasterPid() !== undefined) {
      await this.stop('immediate').catch(() => {
        // pg_ctl could not stop it: end the postmaster by its own pid.
        const pid = this.postmasterPid();
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async prepareDir(): Promise<void> {
    if (this.asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(this.dir, uid, gid);
    }
    mkdirSync(join(this.dir, 'socket'), { recursive: true });
    if (this.asRoot) execFileSync('chown', ['postgres:postgres', join(this.dir, 'socket')]);
    this.port = await freePort();
  }

  private run(binary: string, args: string[]): Promise<void> {
    const path = join(this.bin, binary);
    const [command, argv] = this.asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    return new Promise((resolve, reject) => {
      // pg_ctl start leaves the server running with our pipes as its stdout: only wait for the exit.
      execFile(command, argv, { timeout: COMMAND_TIMEOUT_MS }, (error, _stdout, stderr) => {
        if (error) reject(new Error(`${binary} failed: ${stderr || error.message}\n${this.logTail()}`));
        else resolve();
      });
    });
  }
}

export interface PrimaryAndReplicaOptions {
  /**
   * Runs against the primary before the copy (create a database, migrate), so the replica starts
   * with it. Gets the primary's URL for a database name.
   */
  prepare?: (primaryUrl: (database: string) => string) => Promise<void>;
  /**
   * Synchronous replication (`synchronous_standby_names = '*'` on the primary, set once the replica
   * streams, so it is not copied into the replica): a commit returns only once the replica has it.
   * Without it a promotion can lose the last commits the primary acknowledged.
   */
  synchronous?: boolean;
}

/**
 * A primary (initdb) and a hot standby streaming from it (`pg_basebackup -R`), each on a free port.
 * Construct it first and keep it where afterAll sees it, then `start()`: `destroy()` stops and removes
 * whatever exists at any stage, also while start() is still running (a hook that timed out), and a
 * start() that goes on after it removes what it made.
 */
export class PrimaryAndReplica {
  readonly primary = new PostgresCluster();
  readonly replica = new PostgresCluster();
  private destroyed = false;

  constructor(private readonly options: PrimaryAndReplicaOptions = {}) {}

  async start(): Promise<void> {
    const step = async (work: () => Promise<unknown>) => {
      if (this.destroyed) throw new Error('destroyed while starting');
      await work();
      // destroy() ran while this step did: remove what the step made.
      if (this.destroyed) {
        await this.destroy();
        throw new Error('destroyed while starting');
      }
    };
    await step(() => this.primary.init());
    await step(() => this.primary.start());
    if (this.options.prepare) await step(() => this.options.prepare!((database) => this.primary.url(database)));
    await step(() => this.replica.initReplicaOf(this.primary));
    await step(() => this.replica.start());
    await step(async () => {
      const admin = postgres(this.primary.url('postgres'), { max: 1, onnotice: () => {} });
      try {
        if (this.options.synchronous) {
          await admin`alter system set synchronous_standby_names = '*'`;
          await admin`select pg_reload_conf()`;
        }
        const state = this.options.synchronous ? 'sync' : 'async';
        await eventually(async () => {
          const [row] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_replication where state = 'streaming' and sync_state = ${state}`;
          return row?.n === 1;
        }, `the replica on port ${this.replica.port} to stream from the primary (${state})`, 120_000, 100);
      } finally {
        await admin.end({ timeout: 1 });
      }
    });
  }

  /** `postgres://postgres@127.0.0.1:<primary>,127.0.0.1:<replica>/<database>?target_session_attrs=read-write`. */
  failoverUrl(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.primary.port},127.0.0.1:${this.replica.port}/${database}?target_session_attrs=read-write`;
  }

  /** Resolves once the replica has replayed everything the primary has written so far. */
  async waitForReplay(timeoutMs = 60_000): Promise<void> {
    const p = postgres(this.primary.url('postgres'), { max: 1, onnotice: () => {} });
    const r = postgres(this.replica.url('postgres'), { max: 1, onnotice: () => {} });
    try {
      const [{ lsn } = { lsn: '' }] = await p<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
      await eventually(async () => {
        const [row] = await r<{ caught: boolean }[]>`select pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn as caught`;
        return row?.caught === true;
      }, `the replica on port ${this.replica.port} to replay up to ${lsn}`, timeoutMs, 50);
    } finally {
      await Promise.allSettled([p.end({ timeout: 1 }), r.end({ timeout: 1 })]);
    }
  }

  /** Stops both servers (by pg_ctl, else by the postmaster's pid) and removes their directories. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await Promise.allSettled([this.replica.destroy(), this.primary.destroy()]);
  }
}

/** The processes whose parent is `parent` (from /proc). */
function childPids(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return children;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createDb, migrate, verifyCandles, type CandleMismatch, type Sql } from '@tickvault/db';
import { DEFAULT_JOB_OPTIONS, createProducerConnection } from '@tickvault/queue';
import { JOB_NAMES, QUEUE_NAMES, type Tick, type TickBatchJob } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { freePort, PostgresCluster, ServiceProcess, repoPath, type LogLine } from '@tickvault/testing';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

export const ENTRIES = {
  writer: repoPath('apps/writer/src/main.ts'),
  ingestCrypto: repoPath('apps/ingest-crypto/src/main.ts'),
  ingestStock: repoPath('apps/ingest-stock/src/main.ts'),
  ingestMacro: repoPath('apps/ingest-macro/src/main.ts'),
  scheduler: repoPath('apps/scheduler/src/main.ts'),
  dashboard: repoPath('apps/dashboard/src/main.ts'),
  fakeFeeds: repoPath('tools/fake-feeds/src/main.ts'),
} as const;

export interface Settings {
  short: boolean;
  /** Base Postgres URL (any database); each scenario creates and drops its own database next to it. */
  databaseUrl: string;
  /** The shared Redis; scenarios that stop, fill or slow Redis start their own redis-server instead. */
  redisUrl: string;
  soakMinutes: number;
  keep: boolean;
}

export interface Outcome {
  scenario: string;
  pass: boolean;
  seconds: number;
  figures: [string, string][];
  failures: string[];
  notes: string[];
}

/**
 * What one scenario owns while it runs: processes, servers, databases and key prefixes, all torn
 * down at its end (in reverse order), and the figures and failed checks it reports.
 */
export class Run {
  readonly figures: [string, string][] = [];
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  private readonly cleanups: (() => Promise<unknown> | unknown)[] = [];
  private readonly started = performance.now();

  constructor(
    readonly name: string,
    readonly settings: Settings,
  ) {}

  get short(): boolean {
    return this.settings.short;
  }

  /** Short form value or full form value. */
  size<T>(short: T, full: T): T {
    return this.settings.short ? short : full;
  }

  defer(cleanup: () => Promise<unknown> | unknown): void {
    this.cleanups.push(cleanup);
  }

  figure(name: string, value: string | number): void {
    const text = typeof value === 'number' ? fmt(value) : value;
    this.figures.push([name, text]);
    log(`    ${name}: ${text}`);
  }

  note(text: string): void {
    this.notes.push(text);
    log(`    note: ${text}`);
  }

  /** Records a failed invariant (the scenario goes on, so every check of the run is reported). */
  check(ok: boolean, what: string): boolean {
    if (!ok) {
      this.failures.push(what);
      log(`    FAILED: ${what}`);
    }
    return ok;
  }

  step(text: string): void {
    log(`  [${this.name} +${((performance.now() - this.started) / 1000).toFixed(1)}s] ${text}`);
  }

  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (error) {
        log(`    cleanup: ${(error as Error).message}`);
      }
    }
    this.cleanups.length = 0;
  }

  // --- resources --------------------------------------------------------------------------------

  /** A database of this scenario's own, migrated, dropped at the end (unless --keep). */
  async database(label: string): Promise<{ url: string; name: string; sql: Sql }> {
    const name = `tv_chaos_${label}_${randomBytes(3).toString('hex')}`;
    const url = new URL(this.settings.databaseUrl);
    url.pathname = `/${name}`;
    await migrate(url.toString());
    const sql = createDb(url.toString(), { max: 4, applicationName: 'tickvault-chaos', statementTimeoutMs: 0 });
    this.defer(async () => {
      await sql.end({ timeout: 5 });
      if (this.settings.keep) {
        log(`    kept database ${name}`);
        return;
      }
      const adminUrl = new URL(this.settings.databaseUrl);
      adminUrl.pathname = '/postgres';
      const admin = createDb(adminUrl.toString(), { max: 1 });
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    });
    return { url: url.toString(), name, sql };
  }

  /** A queue prefix of its own on the shared Redis; every key under it is deleted at the end. */
  prefix(): string {
    const prefix = `{tvchaos-${randomBytes(4).toString('hex')}}`;
    // Shard queues live under `{tvchaos-…-sN}` (the writer looks at shards it does not consume too).
    this.defer(() => deleteKeys(this.settings.redisUrl, `${prefix}*`, `${prefix.slice(0, -1)}-s*`));
    return prefix;
  }

  redis(url: string, options: { producer?: boolean } = {}): Redis {
    const client = options.producer ? createProducerConnection(url, 'tickvault-chaos') : new Redis(url, { maxRetriesPerRequest: null });
    client.on('error', () => {});
    this.defer(() => client.disconnect());
    return client;
  }

  tickQueue(connection: Redis, prefix: string): Queue<TickBatchJob> {
    const queue = new Queue<TickBatchJob>(QUEUE_NAMES.ticks, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    queue.on('error', () => {});
    this.defer(() => queue.close().catch(() => {}));
    return queue;
  }

  /** Counts `stalled` events (a job whose lock expired went back to wait) on the tick queue. */
  stalledCounter(url: string, prefix: string): { count: () => number } {
    const connection = new Redis(url, { maxRetriesPerRequest: null });
    connection.on('error', () => {});
    const events = new QueueEvents(QUEUE_NAMES.ticks, { connection, prefix });
    events.on('error', () => {});
    let stalled = 0;
    events.on('stalled', () => stalled++);
    this.defer(async () => {
      await events.close().catch(() => {});
      connection.disconnect();
    });
    return { count: () => stalled };
  }

  /** A service as a real child process; killed at the end of the scenario if still running. */
  service(entry: string, env: Record<string, string>): ServiceProcess {
    const proc = new ServiceProcess(entry, { HEALTH_PORT: '0', LOG_LEVEL: 'info', ...env });
    this.defer(() => proc.stop(10_000));
    return proc;
  }

  async writer(env: Record<string, string>): Promise<{ proc: ServiceProcess; port: number }> {
    const proc = this.service(ENTRIES.writer, env);
    const started = await proc.waitForLog((l) => l.msg === 'writer started', 60_000);
    return { proc, port: started.healthPort as number };
  }

  async redisServer(options: RedisServerOptions): Promise<RedisServer> {
    const server = new RedisServer(options);
    this.defer(() => server.destroy());
    await server.start();
    return server;
  }

  /** A PostgreSQL cluster of this scenario's own (initdb, own port and data directory), removed at the end. */
  async postgresCluster(): Promise<PostgresCluster> {
    const cluster = new PostgresCluster();
    this.defer(() => cluster.destroy());
    await cluster.init();
    await cluster.start();
    return cluster;
  }

  /** Samples the RSS of the given processes every `intervalMs` until the end of the scenario. */
  memory(targets: Record<string, () => number | undefined>, intervalMs = 200): MemorySampler {
    const sampler = new MemorySampler(targets, intervalMs);
    this.defer(() => sampler.stop());
    return sampler;
  }
}

// --- memory ---------------------------------------------------------------------------------------------

/** RSS samples (MB) of a few processes, to report baselines and peaks over windows of a scenario. */
export class MemorySampler {
  readonly samples: { at: number; mb: Record<string, number> }[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly targets: Record<string, () => number | undefined>,
    intervalMs: number,
  ) {
    this.loop = (async () => {
      while (this.running) {
        this.sample();
        await sleep(intervalMs);
      }
    })();
  }

  sample(): void {
    const mb: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.targets)) {
      const value = rssMb(pid());
      if (value !== undefined) mb[name] = value;
    }
    this.samples.push({ at: Date.now(), mb });
  }

  private within(name: string, from: number, to: number): number[] {
    return this.samples.filter((s) => s.at >= from && s.at <= to && name in s.mb).map((s) => s.mb[name]!);
  }

  /** Largest sample of `name` in [from, to] (ms since the epoch), NaN without samples. */
  peak(name: string, from = 0, to = Infinity): number {
    const values = this.within(name, from, to);
    return values.length === 0 ? NaN : Math.max(...values);
  }

  /** Median sample of `name` in [from, to]: a baseline that one GC-timing spike does not move. */
  median(name: string, from = 0, to = Infinity): number {
    const values = this.within(name, from, to).sort((a, b) => a - b);
    return values.length === 0 ? NaN : values[Math.floor(values.length / 2)]!;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// --- redis-server of a scenario's own -------------------------------------------------------------

export interface RedisServerOptions {
  /** `always` / `everysec` turn AOF on; null runs without any persistence. */
  appendfsync: 'always' | 'everysec' | null;
  maxmemory?: string;
}

/** A redis-server on a free loopback port with its data in a temp dir; it can be killed -9 and restarted on the same dir. */
export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'tv-chaos-redis-'));
  port = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly options: RedisServerOptions) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--daemonize', 'no', '--protected-mode', 'no',
      '--save', '', '--maxmemory-policy', 'noeviction', '--logfile', join(this.dir, 'redis.log'),
      ...(this.options.appendfsync ? ['--appendonly', 'yes', '--appendfsync', this.options.appendfsync] : ['--appendonly', 'no']),
      ...(this.options.maxmemory ? ['--maxmemory', this.options.maxmemory] : []),
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const probe = new Redis(this.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100, lazyConnect: true });
    probe.on('error', () => {});
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited: ${this.logTail()}`);
        if (probe.status !== 'ready') await probe.connect().catch(() => {});
        // A server loading its AOF answers LOADING until it is done.
        return (await probe.ping().catch(() => '')) === 'PONG';
      }, 'redis-server ready', 30_000, 50);
    } finally {
      probe.disconnect();
    }
  }

  async kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** A clean stop (SHUTDOWN: with AOF on, Redis fsyncs it first), waiting for the process to exit. */
  async shutdown(): Promise<void> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    await client.call('SHUTDOWN').catch(() => {}); // the connection closes before any reply
    client.disconnect();
    await this.exited;
  }

  async info(section: string): Promise<Record<string, string>> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      const text = await client.info(section);
      return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
    } finally {
      client.disconnect();
    }
  }

  async config(name: string, value: string): Promise<void> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      await client.config('SET', name, value);
    } finally {
      client.disconnect();
    }
  }

  logTail(): string {
    try {
      return readFileSync(join(this.dir, 'redis.log'), 'utf8').split('\n').slice(-10).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async destroy(): Promise<void> {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }
}


export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function deleteKeys(url: string, ...patterns: string[]): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

// --- producing jobs with a ledger -------------------------------------------------------------------

export interface LedgerJob {
  id: string;
  data: TickBatchJob;
}

/** Jobs with ids of their own, so a resend after an error that did reach Redis is not queued twice (as the ingest outbox does). */
export function withIds(jobs: readonly TickBatchJob[], tag: string): LedgerJob[] {
  return jobs.map((data, i) => ({ id: `${tag}-${i}`, data }));
}

/**
 * Adds jobs at a steady pace, `perAdd` per addBulk, like an ingest service: a failed add is retried
 * (same ids) until it succeeds or the producer is stopped. `acked` holds the ids Redis has confirmed.
 */
export class Producer {
  readonly acked = new Set<string>();
  readonly ackedAt = new Map<string, number>();
  errors = 0;
  private stopped = false;
  readonly done: Promise<void>;

  constructor(
    private readonly queue: Queue<TickBatchJob>,
    private readonly jobs: readonly LedgerJob[],
    private readonly options: { jobsPerSecond: number; perAdd?: number; retryMs?: number },
  ) {
    this.done = this.run();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }

  get finished(): boolean {
    return this.acked.size === this.jobs.length;
  }

  private async run(): Promise<void> {
    const perAdd = this.options.perAdd ?? 10;
    const started = performance.now();
    let sent = 0;
    for (let i = 0; i < this.jobs.length && !this.stopped; i += perAdd) {
      const chunk = this.jobs.slice(i, i + perAdd);
      const due = started + (sent / this.options.jobsPerSecond) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      while (!this.stopped) {
        try {
          await this.queue.addBulk(chunk.map((job) => ({ name: JOB_NAMES.tickBatch, data: job.data, opts: { jobId: job.id } })));
          const now = Date.now();
          for (const job of chunk) {
            this.acked.add(job.id);
            this.ackedAt.set(job.id, now);
          }
          break;
        } catch {
          this.errors++;
          await sleep(this.options.retryMs ?? 200);
        }
      }
      sent += chunk.length;
    }
  }
}

export function ticksOf(jobs: readonly LedgerJob[]): Tick[] {
  return jobs.flatMap((j) => j.data.ticks as Tick[]);
}

export async function queueCounts(queue: Queue<TickBatchJob>): Promise<Record<string, number>> {
  return queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
}

/** No tick job waiting, active or delayed: everything queued is committed (jobs complete after their commit). */
export async function waitDrained(queue: Queue<TickBatchJob>, timeoutMs: number, what = 'queue drained'): Promise<void> {
  await waitFor(async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).every((n) => n === 0);
  }, what, timeoutMs, 200);
}

// --- ground truth -----------------------------------------------------------------------------------

export interface LedgerResult {
  expected: number;
  stored: number;
  missing: number;
  extra: number;
  duplicates: number;
  volumeExpected: string;
  volumeStored: string;
  candleVolume1m: string | null;
  verifyChecked: number;
  mismatches: CandleMismatch[];
  missingSample: string[];
  /** Trade ids of the missing ledger ticks (with `listMissing`). */
  missingIds: string[];
}

/**
 * Compares the stored ticks of `sources` with the ledger: every ledger key stored (nothing lost), no
 * stored key outside it (nothing extra), one row per key, the same volume, and candles equal to the
 * from-scratch aggregation of the stored ticks (verifyCandles). With `within`, only stored ticks in
 * that time range (and of the ledger's symbols) are compared, for ledgers that cover a window.
 */
export async function checkLedger(
  sql: Sql,
  ledger: readonly Pick<Tick, 'source' | 'symbol' | 'ts' | 'size' | 'tradeId'>[],
  options: { sources: string[]; within?: { from: Date; to: Date }; candleVolume?: boolean; verify?: boolean; listMissing?: boolean },
): Promise<LedgerResult> {
  await sql`drop table if exists chaos_ledger`;
  await sql`create table chaos_ledger (source text, symbol text, ts timestamptz, trade_id text, size numeric)`;
  for (let i = 0; i < ledger.length; i += 20_000) {
    const part = ledger.slice(i, i + 20_000);
    await sql.unsafe(
      'insert into chaos_ledger select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::numeric[])',
      [part.map((t) => t.source), part.map((t) => t.symbol), part.map((t) => t.ts), part.map((t) => t.tradeId), part.map((t) => t.size)] as never[],
    );
  }
  await sql`create index on chaos_ledger (source, symbol, ts)`;
  await sql`analyze chaos_ledger`;
  const from = options.within?.from ?? new Date(0);
  const to = options.within?.to ?? new Date('9999-01-01T00:00:00Z');
  const symbols = [...new Set(ledger.map((t) => t.symbol))];
  const scope = sql`t.source = any(${options.sources}) and t.ts >= ${from} and t.ts < ${to} ${options.within ? sql`and t.symbol = any(${symbols})` : sql``}`;
  const [row] = await sql<{ expected: number; stored: number; distinct_keys: number; missing: number; extra: number; vol_expected: string | null; vol_stored: string | null }[]>`
    select
      (select count(*)::int from chaos_ledger) as expected,
      (select count(*)::int from ticks t where ${scope}) as stored,
      (select count(*)::int from (select distinct source, symbol, ts, trade_id from ticks t where ${scope}) d) as distinct_keys,
      (select count(*)::int from chaos_ledger l where not exists (
        select 1 from ticks t where t.source = l.source and t.symbol = l.symbol and t.ts = l.ts and t.trade_id is not distinct from l.trade_id)) as missing,
      (select count(*)::int from ticks t where ${scope} and not exists (
        select 1 from chaos_ledger l where t.source = l.source and t.symbol = l.symbol and t.ts = l.ts and t.trade_id is not distinct from l.trade_id)) as extra,
      (select sum(size)::text from chaos_ledger) as vol_expected,
      (select sum(size)::text from ticks t where ${scope}) as vol_stored`;
  // Only when something is missing, and materialized first: with `order by … limit` over the ticks
  // view (no statistics through its UNION ALL) the planner picks a nested-loop anti join that compares
  // every ledger row with every stored tick when nothing is missing (hours at 150,000 × 350,000).
  const missingRows = row!.missing === 0 ? [] : await sql<{ k: string }[]>`
    with missing as materialized (
      select l.* from chaos_ledger l where not exists (
        select 1 from ticks t where t.source = l.source and t.symbol = l.symbol and t.ts = l.ts and t.trade_id is not distinct from l.trade_id))
    select source || ' ' || symbol || ' ' || to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || ' #' || coalesce(trade_id, '-') as k
    from missing order by ts limit 5`;
  const missingIds = options.listMissing && row!.missing > 0
    ? (await sql<{ id: string }[]>`
        select l.trade_id as id from chaos_ledger l where not exists (
          select 1 from ticks t where t.source = l.source and t.symbol = l.symbol and t.ts = l.ts and t.trade_id is not distinct from l.trade_id)`).map((r) => r.id)
    : [];
  let candleVolume1m: string | null = null;
  if (options.candleVolume) {
    const [c] = await sql<{ v: string | null }[]>`select sum(volume)::text as v from candles where source = any(${options.sources}) and timeframe = '1m'`;
    candleVolume1m = c?.v ?? '0';
  }
  let verifyChecked = 0;
  const mismatches: CandleMismatch[] = [];
  if (options.verify !== false && ledger.length > 0) {
    // A loop, not Math.min(...times): spreading hundreds of thousands of arguments overflows the stack.
    let min = Infinity;
    let max = -Infinity;
    for (const t of ledger) {
      const at = Date.parse(t.ts);
      if (at < min) min = at;
      if (at > max) max = at;
    }
    const vFrom = new Date(Math.floor(min / DAY_MS) * DAY_MS);
    const vTo = new Date((Math.floor(max / DAY_MS) + 1) * DAY_MS);
    for (const source of options.sources) {
      const result = await verifyCandles(sql, { from: vFrom, to: vTo, source });
      verifyChecked += result.checked;
      mismatches.push(...result.mismatches);
    }
  }
  return {
    expected: row!.expected,
    stored: row!.stored,
    missing: row!.missing,
    extra: row!.extra,
    duplicates: row!.stored - row!.distinct_keys,
    volumeExpected: row!.vol_expected ?? '0',
    volumeStored: row!.vol_stored ?? '0',
    candleVolume1m,
    verifyChecked,
    mismatches,
    missingSample: missingRows.map((r) => r.k),
    missingIds,
  };
}

/** The standard "nothing lost, nothing doubled, candles right" checks and figures of a ledger result. */
export function reportLedger(run: Run, result: LedgerResult, label = '', options: { lossIsMeasured?: boolean } = {}): void {
  const p = label ? `${label} ` : '';
  run.figure(`${p}ticks produced / stored`, `${result.expected} / ${result.stored}`);
  if (!options.lossIsMeasured) {
    run.check(result.missing === 0, `${p}${result.missing} produced ticks not stored (e.g. ${result.missingSample.join('; ')})`);
    run.check(Number(result.volumeStored) === Number(result.volumeExpected), `${p}stored volume ${result.volumeStored} differs from the ledger's ${result.volumeExpected}`);
  }
  run.check(result.extra === 0, `${p}${result.extra} stored ticks that were never produced`);
  run.check(result.duplicates === 0, `${p}${result.duplicates} duplicate tick rows`);
  if (result.candleVolume1m !== null) {
    run.check(Number(result.candleVolume1m) === Number(result.volumeStored), `${p}1m candle volume ${result.candleVolume1m} differs from the stored ticks' ${result.volumeStored}`);
  }
  run.figure(`${p}candles verified / mismatches`, `${result.verifyChecked} / ${result.mismatches.length}`);
  run.check(result.verifyChecked > 0 || result.expected === 0, `${p}verifyCandles checked no candle`);
  run.check(result.mismatches.length === 0, `${p}${result.mismatches.length} candle mismatches, e.g. ${JSON.stringify(result.mismatches.slice(0, 2))}`);
}

// --- readiness ----------------------------------------------------------------------------------------

export async function readiness(port: number, timeoutMs = 2000): Promise<number | 'down'> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 'down';
  }
}

/** Polls /readyz and keeps every answer with its time (Date.now()). */
export class ReadinessWatch {
  /** `sent`: when the request was made; `at`: when its answer (or failure) came. Ordered by `at`. */
  readonly samples: { sent: number; at: number; status: number | 'down'; ms: number }[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  /**
   * `timeoutMs`: an answer slower than this counts as 'down' (a blocked event loop looks like that too).
   * `parallel` pollers, staggered, sample a short window (a drain of a few tens of ms) densely.
   */
  constructor(port: number, intervalMs: number, timeoutMs = 1000, parallel = 1) {
    this.loop = Promise.all(
      Array.from({ length: parallel }, async (_, i) => {
        await sleep((intervalMs * i) / parallel);
        while (this.running) {
          const sent = Date.now();
          const status = await readiness(port, timeoutMs);
          this.samples.push({ sent, at: Date.now(), status, ms: Date.now() - sent });
          await sleep(intervalMs);
        }
      }),
    ).then(() => undefined);
  }

  get slowest(): number {
    return Math.max(0, ...this.samples.map((s) => s.ms));
  }

  firstAt(predicate: (status: number | 'down') => boolean, after = 0): number | undefined {
    return this.samples.find((s) => s.at >= after && predicate(s.status))?.at;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// --- metrics, memory --------------------------------------------------------------------------------

export async function scrape(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  } catch {
    return '';
  }
}

/** Sum of a metric's samples whose labels contain every given `k="v"`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

/** VmRSS of a process in MB, or undefined when it is gone. */
export function rssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, seconds) a process has used so far, or undefined when it is gone. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** CPU time (seconds) the whole machine has spent busy (not idle or waiting for I/O), every core together. */
export function machineBusySeconds(): number {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - ticks[3]! - ticks[4]!) / CLOCK_TICKS_PER_SECOND;
}

// USER_HZ: what Linux reports /proc times in, 100 on every common architecture.
const CLOCK_TICKS_PER_SECOND = 100;

// --- small helpers ------------------------------------------------------------------------------------

export function logsMatching(proc: ServiceProcess, predicate: (line: LogLine) => boolean): LogLine[] {
  return proc.lines.filter(predicate);
}

export function msgIncludes(text: string): (line: LogLine) => boolean {
  return (line) => typeof line.msg === 'string' && line.msg.includes(text);
}

export async function waitFor<T>(check: () => Promise<T | undefined | false | null> | T | undefined | false | null, what: string, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? `: ${(last as Error).message ?? String(last)}` : ''}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function countTicks(sql: Sql, source: string): Promise<number> {
  return sql<{ n: number }[]>`select count(*)::int as n from ticks where source = ${source}`.then((r) => r[0]!.n);
}

/** Env for a writer on `db` and `redisUrl` under `prefix`. */
export function writerEnv(databaseUrl: string, redisUrl: string, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, ...extra };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

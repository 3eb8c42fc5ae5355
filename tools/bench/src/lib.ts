import { readdirSync, readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { V1_SCHEMA, V1_SCHEMA_SQL, type Sql } from '@tickvault/db';
import { DEFAULT_JOB_OPTIONS, redisMasters, type ClusterNode, type RedisClient } from '@tickvault/queue';
import { JOB_NAMES, QUEUE_NAMES, type Tick, type TickBatchJob } from '@tickvault/schema';
import { ServiceProcess, repoPath } from '@tickvault/testing';

/** One figure of the run, printed in the summary table (and written to --json). */
export interface Figure {
  scenario: string;
  metric: string;
  value: number | string;
  unit: string;
  note?: string;
}

export interface BenchContext {
  quick: boolean;
  databaseUrl: string;
  redisUrl: string;
  /** REDIS_CLUSTER_NODES: the bench and the services it starts then run on that cluster. */
  redisClusterNodes?: readonly ClusterNode[];
  prefix: string;
  sql: Sql;
  redis: RedisClient;
  /** The tick queue, with the producers' real job options (completed jobs trimmed like in production). */
  queue: Queue<TickBatchJob>;
  figures: Figure[];
  /** Figures other scenarios can compare against (e.g. the 1-writer pipeline rate). */
  shared: { pipelineRate?: number; copyRate?: number };
}

export const TICK_TABLES = 'tick_rows, macro_points, series, candles, candle_cutoffs, bar_minutes, rejected_ticks, system_events, gaps, series_health';

const V1_TABLES = ['ticks', 'candles', 'candle_cutoffs', 'bar_minutes', 'rejected_ticks'];

export function record(ctx: BenchContext, figure: Figure): void {
  ctx.figures.push(figure);
  const value = typeof figure.value === 'number' ? fmtNumber(figure.value) : figure.value;
  log(`  ${figure.metric.padEnd(52)} ${value.padStart(12)} ${figure.unit}${figure.note ? `  (${figure.note})` : ''}`);
}

/** Empties every table the scenarios write and every Redis key under the bench prefix. No process may be running. */
export async function resetState(ctx: BenchContext): Promise<void> {
  await ctx.sql.unsafe(`truncate ${TICK_TABLES} restart identity`);
  const [v1] = await ctx.sql`select to_regclass(${`${V1_SCHEMA}.ticks`}) is not null as exists`;
  if (v1!.exists) await ctx.sql.unsafe(`truncate ${V1_TABLES.map((t) => `${V1_SCHEMA}.${t}`).join(', ')}`);
  // SCAN walks one server: on a cluster, each master's keys (all in the prefix's slot, so one DEL each call).
  for (const node of redisMasters(ctx.redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${ctx.prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await node.del(...keys);
    } while (cursor !== '0');
  }
}

export function createTickQueue(redis: RedisClient, prefix: string): Queue<TickBatchJob> {
  return new Queue<TickBatchJob>(QUEUE_NAMES.ticks, { connection: redis, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

export function serviceEnv(ctx: BenchContext, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: ctx.databaseUrl,
    REDIS_URL: ctx.redisUrl,
    QUEUE_PREFIX: ctx.prefix,
    HEALTH_PORT: '0',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    ...extra,
  };
}

export interface Writers {
  procs: ServiceProcess[];
  healthPorts: number[];
  stop(): Promise<void>;
}

/**
 * Starts `count` real writer processes and waits until each has recorded its startup event (the
 * writer logs at warn, so the database is the signal). Expects system_events to be empty before.
 */
export async function startWriters(ctx: BenchContext, count = 1, extra: Record<string, string> = {}): Promise<Writers> {
  const procs = Array.from({ length: count }, () => new ServiceProcess(repoPath('apps/writer/src/main.ts'), serviceEnv(ctx, extra)));
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
  };
  const exited = new Set<ServiceProcess>();
  for (const p of procs) void p.exited.then(() => exited.add(p));
  try {
    await waitUntil(async () => {
      for (const p of exited) throw new Error(`writer exited:\n${p.output.slice(-20).join('\n')}`);
      const [row] = await ctx.sql`select count(*)::int as n from system_events where kind = 'startup' and service = 'writer'`;
      return row!.n >= count;
    }, 50, 60_000, 'writers started');
  } catch (error) {
    await stop();
    throw error;
  }
  const rows = await ctx.sql`select (details->>'healthPort')::int as port from system_events where kind = 'startup' and service = 'writer'`;
  return { procs, healthPorts: rows.map((r) => r.port as number), stop };
}

/** Adds jobs in bulk chunks (as an ingest outbox does); resolves when Redis holds all of them. */
export async function enqueue(queue: Queue<TickBatchJob>, jobs: readonly TickBatchJob[], chunk = 100): Promise<void> {
  for (let i = 0; i < jobs.length; i += chunk) {
    await queue.addBulk(jobs.slice(i, i + chunk).map((data) => ({ name: JOB_NAMES.tickBatch, data })));
  }
}

/**
 * Resolves once no tick job is waiting, active or delayed. Jobs complete only after their commit, so
 * this is "everything enqueued is committed" without counting a growing table while the writer works.
 */
export async function waitQueueDrained(queue: Queue<TickBatchJob>, intervalMs = 20, timeoutMs = 600_000): Promise<void> {
  await waitUntil(async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).every((n) => n === 0);
  }, intervalMs, timeoutMs, 'tick queue drained');
}

export async function failedJobs(queue: Queue<TickBatchJob>): Promise<number> {
  return (await queue.getJobCounts('failed')).failed ?? 0;
}

/**
 * Deterministic synthetic trades #from..#from+count-1 over `symbols`, `stepMs` apart from `startMs`.
 * Index-addressed, so a large set can be produced chunk by chunk without holding all of it.
 */
export function ticksAt(from: number, count: number, o: { symbols: readonly string[]; startMs: number; stepMs: number; source?: string; tag?: string }): Tick[] {
  const out: Tick[] = new Array(count);
  for (let k = 0; k < count; k++) {
    const i = from + k;
    out[k] = {
      source: o.source ?? 'sim',
      symbol: o.symbols[i % o.symbols.length]!,
      assetClass: 'crypto',
      ts: new Date(o.startMs + i * o.stepMs).toISOString(),
      price: (1000 + ((i * 7919) % 5000) / 100).toFixed(2),
      size: (((i * 104729) % 100000) / 10000 + 0.0001).toFixed(4),
      tradeId: `${o.tag ?? ''}${1_000_000 + i}`,
    };
  }
  return out;
}

export function toJobs(ticks: readonly Tick[], perJob: number, producer = 'bench'): TickBatchJob[] {
  const jobs: TickBatchJob[] = [];
  for (let i = 0; i < ticks.length; i += perJob) jobs.push({ v: 1, producer, ticks: ticks.slice(i, i + perJob), rejected: [] });
  return jobs;
}

export function symbolsOf(count: number, prefix = 'S'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}/USDT`);
}

/**
 * COPY rows into a ticks table, `chunk` lines per write; rows come from `make(from, count)` so nothing
 * large is held. `tick_rows` (v2) takes `copyRowLine` lines; the v1 baseline's `ticks` and a schema-4
 * database's `ticks` take `copyLine` lines.
 */
export async function copyTicks(sql: Sql, total: number, make: (from: number, count: number) => string[], chunk = 20_000, table: 'tick_rows' | 'v1' | 'schema4' = 'tick_rows'): Promise<void> {
  const stream = table !== 'tick_rows'
    ? await sql.unsafe(`copy ${table === 'v1' ? `${V1_SCHEMA}.` : ''}ticks (source, symbol, asset_class, ts, price, size, trade_id) from stdin`).writable()
    : await sql`copy tick_rows (series_id, ts, trade_id, price, size) from stdin`.writable();
  for (let i = 0; i < total; i += chunk) {
    if (!stream.write(make(i, Math.min(chunk, total - i)).join(''))) await new Promise((r) => stream.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

export function copyLine(t: Tick): string {
  return `${t.source}\t${t.symbol}\t${t.assetClass}\t${t.ts}\t${t.price}\t${t.size}\t${t.tradeId}\n`;
}

/** A tick_rows COPY line; `ids` from seriesIds. */
export function copyRowLine(t: Tick, ids: ReadonlyMap<string, number>): string {
  return `${ids.get(`${t.source}/${t.symbol}`)}\t${t.ts}\t${t.tradeId}\t${t.price}\t${t.size}\n`;
}

/** Series ids of `source`'s symbols (created when missing), keyed `source/symbol`, and the partitions for [fromMs, toMs]. */
export async function prepareTickRows(sql: Sql, source: string, symbols: readonly string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
  await sql`insert into series (source, symbol, asset_class) select ${source}, s, 'crypto' from unnest(${symbols as string[]}::text[]) s
    on conflict (source, symbol) do nothing`;
  const rows = await sql<{ symbol: string; id: number }[]>`select symbol, id from series where source = ${source}`;
  await sql`select tv_ensure_tick_partitions(${new Date(fromMs).toISOString().slice(0, 10)}::date, ${new Date(toMs).toISOString().slice(0, 10)}::date)`;
  return new Map(rows.map((r) => [`${source}/${r.symbol}`, r.id]));
}

/** The v1 baseline's scratch schema (the tables of schema 4), created empty. */
export async function createV1Schema(sql: Sql): Promise<void> {
  await sql.unsafe(`drop schema if exists ${V1_SCHEMA} cascade`);
  await sql.unsafe(`create schema ${V1_SCHEMA}`);
  await sql.begin(async (tx) => {
    await tx.unsafe(`set local search_path = ${V1_SCHEMA}, public`);
    await tx.unsafe(V1_SCHEMA_SQL);
  });
}

// --- processes: memory and CPU ----------------------------------------------------------------

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

/** Samples the RSS of some processes every `intervalMs` until stopped; keeps every sample. */
export class RssSampler {
  readonly samples = new Map<string, { t: number; mb: number }[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: Record<string, number | undefined>, intervalMs = 100) {
    for (const name of Object.keys(pids)) this.samples.set(name, []);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const t = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) {
      const mb = rssMb(pid);
      if (mb !== undefined) this.samples.get(name)!.push({ t, mb });
    }
  }

  peak(name: string): number {
    return Math.max(0, ...this.samples.get(name)!.map((s) => s.mb));
  }

  last(name: string): number {
    return this.samples.get(name)!.at(-1)?.mb ?? 0;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

const CLK_TCK = 100;

/** utime + stime (seconds) of every process on the machine, by pid, with its command name. */
function cpuTable(): Map<number, { comm: string; seconds: number }> {
  const table = new Map<number, { comm: string; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // Fields after the name: state(0) ... utime(11) stime(12).
      table.set(Number(entry), { comm, seconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK });
    } catch {
      // The process ended while we looked.
    }
  }
  return table;
}

/**
 * Where the machine's CPU went between start() and stop(): the named processes, Postgres (every
 * postgres process), Redis, and everything else (other people's work on this shared box included).
 * Processes that start and end inside the window are not seen; short-lived ones are few here.
 */
export class CpuAccount {
  private before = cpuTable();
  private startedAt = performance.now();

  constructor(private readonly named: () => Record<string, (number | undefined)[]>) {}

  restart(): void {
    this.before = cpuTable();
    this.startedAt = performance.now();
  }

  stop(): { wallSeconds: number; byPart: Record<string, number> } {
    const after = cpuTable();
    const wallSeconds = (performance.now() - this.startedAt) / 1000;
    const owner = new Map<number, string>();
    for (const [name, pids] of Object.entries(this.named())) for (const pid of pids) if (pid !== undefined) owner.set(pid, name);
    const byPart: Record<string, number> = {};
    for (const [pid, now] of after) {
      const delta = now.seconds - (this.before.get(pid)?.seconds ?? 0);
      if (delta <= 0) continue;
      const part = owner.get(pid) ?? (now.comm === 'postgres' ? 'postgres' : now.comm.startsWith('redis-server') ? 'redis' : 'other');
      byPart[part] = (byPart[part] ?? 0) + delta;
    }
    return { wallSeconds, byPart };
  }
}

/** "writer 1.2 cores, postgres 0.6, ..." from a CpuAccount result. */
export function describeCpu(result: { wallSeconds: number; byPart: Record<string, number> }): string {
  return Object.entries(result.byPart)
    .sort((a, b) => b[1] - a[1])
    .map(([part, seconds]) => `${part} ${(seconds / result.wallSeconds).toFixed(2)}`)
    .join(', ');
}

// --- metrics from a service's /metrics --------------------------------------------------------

export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Sum of a metric's samples whose labels contain every given `k="v"`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

// --- small helpers ----------------------------------------------------------------------------

export async function waitUntil(check: () => Promise<boolean>, intervalMs = 50, timeoutMs = 600_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: Float64Array | readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function fmtNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * What the writer's Postgres backends are doing, sampled from pg_stat_activity every `intervalMs`:
 * per state (running, waiting on a lock, on I/O, idle in transaction = waiting for the writer
 * process), the average number of writer backends in it. Shows where a flush spends its time.
 */
export class PgActivitySampler {
  private readonly counts = new Map<string, number>();
  private samples = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly sql: Sql, applicationName = 'tickvault-writer', intervalMs = 100) {
    this.loop = (async () => {
      while (this.running) {
        const rows = await this.sql<{ state: string; w: string | null }[]>`
          select state, wait_event_type || ':' || wait_event as w from pg_stat_activity
          where application_name = ${applicationName} and state is not null and state <> 'idle'`.catch(() => null);
        if (rows) {
          this.samples++;
          for (const r of rows) {
            const key = r.state === 'active' ? (r.w ?? 'running') : r.state;
            this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
          }
        }
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<string> {
    this.running = false;
    await this.loop;
    if (this.samples === 0) return 'no samples';
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .filter(([, n]) => n / this.samples >= 0.01)
      .map(([key, n]) => `${key} ${(n / this.samples).toFixed(2)}`)
      .join(', ');
  }
}

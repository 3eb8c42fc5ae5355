import http from 'node:http';
import { setPriority } from 'node:os';
import { JOB_NAMES } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs } from '@tickvault/testing';
import type { Queue } from 'bullmq';
import type { TickBatchJob } from '@tickvault/schema';
import type { Sql } from '@tickvault/db';
import {
  ENTRIES, HOUR_MS, checkLedger, cpuSeconds, fmt, machineBusySeconds, queueCounts, reportLedger, seconds, sleep, waitFor, withIds, writerEnv, type MemorySampler, type Run,
} from '../lib.js';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT'];
const SSE_CLIENTS = 500;
// Refused streams (the dashboard takes 200) come back after this, ignoring Retry-After: a hostile client.
const SSE_RETRY_MS = 1000;
// Every fourth stream never reads: its socket fills and the dashboard must bound what it queues for it.
const SILENT_EVERY = 4;
const TICKS_PER_JOB = 500;
const MIN_RATIO = 0.8;

/** 500 live-stream clients: each reconnects a second after a refusal or a close; some never read. */
class StreamSwarm {
  open = 0;
  opened = 0;
  refused = 0;
  errors = 0;
  events = 0;
  private running = true;
  private readonly requests = new Set<http.ClientRequest>();
  private readonly agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

  constructor(
    private readonly port: number,
    private readonly path: string,
    count: number,
  ) {
    for (let i = 0; i < count; i++) this.connect(i);
  }

  private connect(i: number): void {
    if (!this.running) return;
    const request = http.get({ host: '127.0.0.1', port: this.port, path: this.path, agent: this.agent }, (res) => {
      if (res.statusCode !== 200) {
        this.refused++;
        res.resume();
        res.on('end', () => this.retry(i));
        return;
      }
      this.open++;
      this.opened++;
      if (i % SILENT_EVERY === SILENT_EVERY - 1) res.pause();
      else res.on('data', (chunk: Buffer) => (this.events += chunk.toString('latin1').split('event: candle').length - 1));
      res.on('close', () => {
        this.open--;
        this.retry(i);
      });
      res.on('error', () => {});
    });
    this.requests.add(request);
    request.on('close', () => this.requests.delete(request));
    request.on('error', () => {
      this.errors++;
      this.retry(i);
    });
  }

  private retry(i: number): void {
    if (this.running) setTimeout(() => this.connect(i), SSE_RETRY_MS).unref();
  }

  stop(): void {
    this.running = false;
    for (const request of this.requests) request.destroy();
    this.agent.destroy();
  }
}

/** One client asking Bull Board for the largest pages it can, back to back, over every status of the tick queue. */
class BoardHammer {
  requests = 0;
  failures = 0;
  bytes = 0;
  largestPage = 0;
  slowestMs = 0;
  private running = true;
  readonly done: Promise<void>;

  constructor(port: number) {
    this.done = (async () => {
      const statuses = ['waiting', 'completed', 'active', 'latest', 'waiting', 'failed'];
      for (let i = 0; this.running; i++) {
        const status = statuses[i % statuses.length]!;
        const page = status === 'waiting' ? 1 + (i % 3) : 1;
        const started = performance.now();
        try {
          const response = await fetch(`http://127.0.0.1:${port}/admin/queues/api/queues?activeQueue=ticks&status=${status}&page=${page}&jobsPerPage=10000000`, { signal: AbortSignal.timeout(30_000) });
          const body = await response.arrayBuffer();
          this.requests++;
          this.bytes += body.byteLength;
          if (!response.ok) this.failures++;
          // Parsing costs this process too; every few responses is enough to know the page size.
          else if (i % 6 === 0) {
            const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { queues: { name: string; jobs: unknown[] }[] };
            this.largestPage = Math.max(this.largestPage, ...parsed.queues.map((q) => q.jobs.length));
          }
        } catch {
          this.failures++;
          await sleep(100);
        }
        this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
      }
    })();
  }

  stop(): Promise<void> {
    this.running = false;
    return this.done;
  }
}

/**
 * The attacking clients run in this process, on the machine under test; a real attacker's CPU is
 * elsewhere. While they attack, this process runs at the lowest priority so their CPU comes from idle
 * time first rather than from the pipeline (the attack's size is reported, so a weaker one shows).
 * Raising it back needs root; otherwise it stays low, which only slows this harness.
 */
function attackerPriority(low: boolean): void {
  try {
    setPriority(low ? 19 : 0);
  } catch {
    // not permitted: keep what we have
  }
}

interface Phase {
  label: string;
  ticks: number;
  ms: number;
  rate: number;
  /** Cores each process used on average while the phase drained (CPU seconds / seconds). */
  cores: Record<string, number>;
}

/** Processes whose CPU use is measured per drain: name → pid (this process is the attacker). */
type CpuTargets = Record<string, () => number | undefined>;

function cpuNow(targets: CpuTargets): Record<string, number> {
  const out: Record<string, number> = { machine: machineBusySeconds(), 'chaos (attacker)': process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 };
  for (const [name, pid] of Object.entries(targets)) out[name] = cpuSeconds(pid()) ?? NaN;
  return out;
}

/**
 * Queues `ticks` ticks of a source of their own while consumption is paused, resumes, and times the
 * writer draining them: its write rate with the queue never empty. The ledger is checked afterwards,
 * outside the timed part.
 */
async function drainPhase(run: Run, queue: Queue<TickBatchJob>, sql: Sql, cpu: CpuTargets, label: string, source: string, ticks: number, startMs: number, during?: () => Promise<void>): Promise<Phase> {
  const ledger = syntheticTicks({ count: ticks, symbols: SYMBOLS, startMs, stepMs: Math.floor((50 * 60_000) / ticks), source });
  const jobs = withIds(toJobs(ledger, TICKS_PER_JOB, 'chaos'), label.replace(/\W+/g, '-'));
  await queue.pause();
  for (let i = 0; i < jobs.length; i += 50) {
    await queue.addBulk(jobs.slice(i, i + 50).map((j) => ({ name: JOB_NAMES.tickBatch, data: j.data, opts: { jobId: j.id } })));
  }
  await during?.();
  const cpuBefore = cpuNow(cpu);
  const started = Date.now();
  await queue.resume();
  await waitFor(async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).every((n) => n === 0);
  }, `${label} drained`, 300_000, 25);
  const noticed = Date.now();
  const cpuAfter = cpuNow(cpu);
  // Timed by the database (same machine, same clock): the start of the last transaction that stored
  // this source's ticks, so a late look at the queue by this busy process does not count against the writer.
  const [last] = await sql<{ at: Date }[]>`select max(ingested_at) as at from ticks where source = ${source}`;
  const ms = Math.max(1, Math.min(noticed, last!.at.getTime()) - started);
  const cores = Object.fromEntries(Object.keys(cpuBefore).map((k) => [k, (cpuAfter[k]! - cpuBefore[k]!) / ((noticed - started) / 1000)]));
  const phase = { label, ticks, ms, rate: ticks / (ms / 1000), cores };
  run.step(`${label}: ${ticks} ticks in ${seconds(ms)} → ${fmt(phase.rate)} ticks/s; cores used: ${Object.entries(cores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  reportLedger(run, await checkLedger(sql, ledger, { sources: [source], candleVolume: true }), `${label}:`);
  return phase;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * 14. The dashboard under attack while the pipeline works: 500 live-stream (SSE) clients on the series
 * being written (the dashboard takes 200; the refused ones come back every second, a quarter of the
 * accepted ones never read) and one client asking Bull Board for the largest pages it allows, back to
 * back, over every status of the tick queue. The writer's rate draining a backlog is measured in the
 * same run without the attack and under it, alternately (quiet, attack, quiet, attack, …, quiet), so
 * each attacked drain is compared with the quiet drains on either side and a machine that is busier
 * at one moment than another weighs on both: the median of those ratios must be at least 0.8. Every
 * tick must be stored once and the dashboard's memory must stay bounded. The attackers run in this
 * process at the lowest CPU priority (see attackerPriority); the CPU each process used is reported.
 */
export async function dashboardAttack(run: Run): Promise<void> {
  const rounds = run.size(2, 3);
  const ticks = run.size(100_000, 300_000);
  const db = await run.database('dash');
  const server = await run.redisServer({ appendfsync: 'everysec' });
  const prefix = '{chaos}';
  const queue = run.tickQueue(run.redis(server.url), prefix);
  const writer = await run.writer(writerEnv(db.url, server.url, prefix));
  const dashboard = run.service(ENTRIES.dashboard, {
    DATABASE_URL: db.url, REDIS_URL: server.url, QUEUE_PREFIX: prefix, DASHBOARD_AUTH: 'off', DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1',
  });
  const port = (await dashboard.waitForLog((l) => l.msg === 'dashboard started', 60_000)).port as number;
  const memory: MemorySampler = run.memory({ dashboard: () => dashboard.pid, writer: () => writer.proc.pid, 'redis-server': () => server.pid });
  const cpu: CpuTargets = { writer: () => writer.proc.pid, dashboard: () => dashboard.pid, 'redis-server': () => server.pid };
  const hubStats = async () => (await fetch(`http://127.0.0.1:${port}/api/stream/stats`).then((r) => r.json())) as Record<string, number>;

  // A warm-up drain (not measured): series exist, pools are open, the completed set is full for the board.
  let hour = 20;
  await drainPhase(run, queue, db.sql, cpu, 'warm-up', 'chaos-dash-w', 50_000, Date.now() - hour-- * HOUR_MS);
  const quiet: Phase[] = [];
  const attacked: Phase[] = [];
  const quietWindows: [number, number][] = [];
  const attackWindows: [number, number][] = [];
  const totals = { openStreams: 0, refused: 0, errors: 0, events: 0, pages: 0, pageFailures: 0, largestPage: 0, bytes: 0, slowestMs: 0, maxQueued: 0, dropped: 0 };
  const quietPhase = async (n: number) => {
    const from = Date.now();
    quiet.push(await drainPhase(run, queue, db.sql, cpu, `quiet ${n}`, `chaos-dash-q${n}`, ticks, Date.now() - hour-- * HOUR_MS));
    quietWindows.push([from, Date.now()]);
  };
  await quietPhase(1);
  for (let round = 1; round <= rounds; round++) {
    const source = `chaos-dash-a${round}`;
    const series = SYMBOLS.map((s) => `${source}:${s}`).join(',');
    let swarm: StreamSwarm | undefined;
    let hammer: BoardHammer | undefined;
    let from = 0;
    attacked.push(await drainPhase(run, queue, db.sql, cpu, `attack ${round}`, source, ticks, Date.now() - hour-- * HOUR_MS, async () => {
      swarm = new StreamSwarm(port, `/api/stream?series=${encodeURIComponent(series)}&timeframe=1m`, SSE_CLIENTS);
      run.defer(() => swarm?.stop());
      await waitFor(() => swarm!.open >= 150 && swarm!.refused >= 100, 'live streams open and refused', 60_000, 100).catch(() => undefined);
      hammer = new BoardHammer(port);
      run.defer(() => hammer?.stop());
      await waitFor(() => hammer!.requests >= 3, 'Bull Board answering', 60_000, 100).catch(() => undefined);
      from = Date.now();
      attackerPriority(true);
    }));
    attackerPriority(false);
    attackWindows.push([from, Date.now()]);
    const stats = await hubStats().catch(() => ({}) as Record<string, number>);
    totals.openStreams = Math.max(totals.openStreams, swarm!.open);
    totals.maxQueued = Math.max(totals.maxQueued, stats.maxQueuedEvents ?? 0);
    totals.dropped = stats.droppedEvents ?? totals.dropped;
    await hammer!.stop();
    swarm!.stop();
    totals.refused += swarm!.refused;
    totals.errors += swarm!.errors;
    totals.events += swarm!.events;
    totals.pages += hammer!.requests;
    totals.pageFailures += hammer!.failures;
    totals.bytes += hammer!.bytes;
    totals.largestPage = Math.max(totals.largestPage, hammer!.largestPage);
    totals.slowestMs = Math.max(totals.slowestMs, hammer!.slowestMs);
    // Streams the clients closed leave the hub before the next quiet drain.
    await waitFor(async () => (await hubStats()).clients === 0, 'the dashboard dropping the closed streams', 30_000, 200).catch(() => undefined);
    await quietPhase(round + 1);
  }

  const ratios = attacked.map((a, i) => a.rate / ((quiet[i]!.rate + quiet[i + 1]!.rate) / 2));
  const ratio = median(ratios);
  const counts = await queueCounts(queue);
  const inWindows = (name: string, windows: [number, number][], pick: (name: string, from: number, to: number) => number) => windows.map(([f, t]) => pick(name, f, t));
  // Before any attack: the heap an attack grew is not handed back at once.
  const dashQuiet = memory.median('dashboard', quietWindows[0]![0], quietWindows[0]![1]);
  const dashPeak = Math.max(...inWindows('dashboard', attackWindows, (n, f, t) => memory.peak(n, f, t)));
  run.figure('writer rate, quiet / under attack, alternately (ticks/s)', [...quiet.flatMap((q, i) => (attacked[i] ? [q, attacked[i]!] : [q]))].map((p) => fmt(p.rate)).join(' / ') + ` (${ticks} ticks each)`);
  run.figure('under attack vs the quiet drains around it: each / median', `${ratios.map(fmt).join(', ')} / ${fmt(ratio)} (at least ${MIN_RATIO})`);
  const meanCores = (phases: Phase[], key: string) => phases.reduce((n, p) => n + (p.cores[key] ?? NaN), 0) / phases.length;
  run.figure('cores used, quiet / under attack (mean): machine, writer, dashboard, redis-server, chaos (attacker)', ['machine', 'writer', 'dashboard', 'redis-server', 'chaos (attacker)'].map((k) => `${meanCores(quiet, k).toFixed(2)} / ${meanCores(attacked, k).toFixed(2)}`).join(', '));
  const attackSeconds = attackWindows.reduce((n, [f, t]) => n + (t - f), 0) / 1000;
  run.figure('live streams: clients / open under attack / refused (503) per s / errors / candle events read', `${SSE_CLIENTS} / ${totals.openStreams} / ${fmt(totals.refused / attackSeconds)} / ${totals.errors} / ${totals.events}`);
  run.figure('hub: largest queue of one client / dropped events', `${totals.maxQueued} / ${totals.dropped}`);
  run.figure('Bull Board: pages (per s) / failed / jobs in the largest page / MB served / slowest', `${totals.pages} (${fmt(totals.pages / attackSeconds)}) / ${totals.pageFailures} / ${totals.largestPage} / ${fmt(totals.bytes / 2 ** 20)} / ${fmt(totals.slowestMs)} ms`);
  run.figure('dashboard RSS before the attacks / peak under attack', `${fmt(dashQuiet)} / ${fmt(dashPeak)} MB`);
  run.figure('RSS peak: writer / redis-server', `${fmt(memory.peak('writer'))} / ${fmt(memory.peak('redis-server'))} MB`);
  run.check(ratio >= MIN_RATIO, `the writer kept ${fmt(ratio)} of its rate under attack (median of ${ratios.map(fmt).join(', ')}; at least ${MIN_RATIO} required)`);
  run.check(totals.openStreams > 0 && totals.refused > 0, `the attack did not happen as planned: ${totals.openStreams} streams open, ${totals.refused} refused`);
  run.check(totals.pages > 0 && totals.pageFailures < totals.pages, `Bull Board answered ${totals.pages - totals.pageFailures} of ${totals.pages} requests`);
  run.check((counts.failed ?? 0) === 0, `${counts.failed} jobs failed`);
  run.check(dashboard.lines.every((l) => l.msg !== 'stopped' && l.msg !== 'uncaught exception'), 'the dashboard stopped or crashed under attack');
  // Bounded: 200 streams with at most 100 queued events each and pages of at most 100 jobs, not the backlog.
  run.check(dashPeak <= 2 * dashQuiet + 256, `dashboard RSS peaked at ${fmt(dashPeak)} MB under attack (quiet ${fmt(dashQuiet)} MB)`);
}

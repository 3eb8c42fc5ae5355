import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { backfillQueueName, QUEUE_NAMES, tickShards, type AssetClass } from '@tickvault/schema';
import { configuredSources, loadConfigOrExit, maskUrl, maskUrlsInText, type Config, type EnvName } from '@tickvault/config';
import {
  gapCounts, latestHealth, listGaps, listStoredSeries, ReadReplicaUnavailableError, ReadRouter, recentEvents, rejectionCounts, seriesStats,
  type GapRow, type GapStatus, type ReadSource, type RejectionCount, type ReplicaStatus, type Sql, type StoredHealth,
} from '@tickvault/db';
import {
  describeRedisMemory, FAILED_JOBS_KEPT, readRedisMemory, readServices, redisMemoryLevel, redisMemoryWarning, registeredQueues, registeredSeries,
  type RedisClient, type RedisMemory, type RedisMemoryLevel, type ServiceEntry,
} from '@tickvault/queue';
import type { Command } from './command.js';
import { parseOptions, UsageError } from '../args.js';
import { formatCount, formatDuration, formatTable, formatTime, truncate } from '../format.js';
import { describeRuns, serviceReports, serviceWarnings, type ServiceReport } from '../services-summary.js';
import { connectRedisOnce, createProbeDb, safeErrorMessage } from '../probes.js';

const USAGE = [
  'usage: tickvault report [--json] [--watch [seconds]]',
  '',
  'Per configured series (the *_SOURCES and *_SYMBOLS lists, as the services read them, plus what running',
  'ingest services registered in Redis) and any other series stored: ticks and candles, first and last tick,',
  'lag; the last health check; gaps; queue depths by state (every tick shard, events, maintenance, one',
  'backfill queue per source, and any queue a running service registered); the running services (host,',
  'pid, version, heartbeat, each source connected or not); Redis memory against maxmemory; rejected input',
  'by reason; recent system events. With DATABASE_READ_URL the database part is read from that replica (its lag',
  'shown); when it does not answer, from the primary only with DATABASE_READ_FALLBACK=primary.',
  '  --json           one JSON document (sections that could not be read are null, the reason in "errors")',
  '  --watch [s]      redraw every s seconds, 1 to 3600 (default 5) until Ctrl-C; with --json one line each',
  'Exit 1 when Postgres or Redis could not be read (what could be read is still shown).',
  '',
].join('\n');
const DEFAULT_WATCH_SECONDS = 5;
const RECENT_EVENTS = 10;
const OPEN_GAPS_SHOWN = 20;

/** Which variables configure the series of each asset class (the same ones the ingest services read). */
const SERIES_ENV = {
  crypto: { sources: 'CRYPTO_SOURCES', symbols: 'CRYPTO_SYMBOLS' },
  stock: { sources: 'STOCK_SOURCES', symbols: 'STOCK_SYMBOLS' },
  macro: { sources: 'MACRO_SOURCES', symbols: 'MACRO_SERIES' },
} as const satisfies Record<AssetClass, { sources: EnvName; symbols: EnvName }>;

const REPORT_ENV = [
  'DATABASE_URL', 'DATABASE_READ_URL', 'DATABASE_READ_FALLBACK', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX', 'TICK_QUEUE_SHARDS',
  ...Object.values(SERIES_ENV).flatMap((v) => [v.sources, v.symbols]),
  // Resolves STOCK_SOURCES=auto as the services do (configuredSources): the key id, never the secret.
  'ALPACA_KEY_ID',
] as const satisfies readonly EnvName[];
type ReportConfig = Config<(typeof REPORT_ENV)[number]>;

/**
 * The states a tick or event job can be in. BullMQ 6 has no "paused" list any more (a paused queue
 * keeps its jobs in waiting), so pausing is reported as the queue's flag instead of a count.
 */
const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;

export interface SeriesReport {
  source: string;
  symbol: string;
  assetClass: string | null;
  /**
   * True when a *_SOURCES / *_SYMBOLS variable of this shell names it, or a running ingest service runs
   * it (the service registry); false for a series found only in the database.
   */
  configured: boolean;
  ticks: number;
  firstTick: string | null;
  lastTick: string | null;
  /** Report time minus the last tick's time; null without ticks. */
  lagMs: number | null;
  candles: number;
  candles1m: number;
  last1mOpenTime: string | null;
}

export interface QueueReport {
  name: string;
  counts: Record<(typeof JOB_STATES)[number], number>;
  paused: boolean;
}

export interface EventReport {
  ts: string;
  service: string;
  kind: string;
  symbol: string | null;
  details: unknown;
}

export interface RedisMemoryReport extends RedisMemory {
  level: RedisMemoryLevel;
}

/** Where the database part was read: the primary, or the read replica (DATABASE_READ_URL) and how far behind it is. */
export interface ReportDatabase {
  reads: ReadSource;
  replica: (Partial<ReplicaStatus> & { hosts: string; available: boolean }) | null;
}

/** One JSON document: sections that could not be read are null, with the reason in `errors`. */
export interface Report {
  generatedAt: string;
  database: ReportDatabase | null;
  series: SeriesReport[] | null;
  /** The scheduler's latest health check per series. */
  health: StoredHealth[] | null;
  gaps: { counts: Record<GapStatus, number>; open: GapRow[] } | null;
  queues: QueueReport[] | null;
  /** What each running process registered (service registry): who runs what, where. */
  services: ServiceReport[] | null;
  redisMemory: RedisMemoryReport | null;
  rejections: RejectionCount[] | null;
  events: EventReport[] | null;
  /** Limits reached or near (Redis memory, a full failed set): the report still succeeds. */
  warnings: string[];
  errors: string[];
}

export function configuredSeries(config: ReportConfig): { source: string; symbol: string; assetClass: AssetClass }[] {
  const seen = new Set<string>();
  const series: { source: string; symbol: string; assetClass: AssetClass }[] = [];
  for (const [assetClass, vars] of Object.entries(SERIES_ENV) as [AssetClass, (typeof SERIES_ENV)[AssetClass]][]) {
    for (const source of configuredSources(assetClass, config)) {
      for (const symbol of config[vars.symbols]) {
        const key = `${source}\u0000${symbol}`;
        if (seen.has(key)) continue;
        seen.add(key);
        series.push({ source, symbol, assetClass });
      }
    }
  }
  return series;
}

/** Event details are free-form and may quote a driver error, so every string in them is masked. */
function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskUrlsInText(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v)]));
  }
  return value;
}

/**
 * Queue depths, Redis memory and the service registry. `onServices` hears the registered services as
 * soon as they are read (or [] when they cannot be), so the database part can list their series.
 */
async function readRedis(
  config: ReportConfig,
  onServices: (services: ServiceEntry[]) => void,
): Promise<{ queues: QueueReport[]; redisMemory: RedisMemoryReport; services: ServiceEntry[]; unreadable: number }> {
  let registry: { services: ServiceEntry[]; unreadable: number } = { services: [], unreadable: 0 };
  try {
    const redis = await connectRedisOnce(config.REDIS_URL, 'tickvault-report', config.REDIS_CLUSTER_NODES);
    try {
      registry = await readServices(redis, config.QUEUE_PREFIX);
      onServices(registry.services);
      const memory = await readRedisMemory(redis);
      const queues = await readQueues(redis, config, registry.services);
      return { queues, redisMemory: { ...memory, level: redisMemoryLevel(memory) }, ...registry };
    } finally {
      redis.disconnect();
    }
  } finally {
    onServices(registry.services); // a no-op once heard; unblocks the database part after a failure
  }
}

async function readQueues(redis: RedisClient, config: ReportConfig, services: readonly ServiceEntry[]): Promise<QueueReport[]> {
  // Every tick shard, the other fixed queues, one backfill queue per configured source, then what
  // running services registered beyond those (their backfill queues, more tick shards).
  const refs = [
    ...tickShards(config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS),
    ...[QUEUE_NAMES.events, QUEUE_NAMES.maintenance, ...new Set(configuredSeries(config).map((s) => backfillQueueName(s.source)))].map((name) => ({ name, prefix: config.QUEUE_PREFIX })),
  ];
  const known = new Set(refs.map((r) => `${r.prefix}:${r.name}`));
  for (const ref of registeredQueues(services, config.QUEUE_PREFIX)) {
    if (known.has(`${ref.prefix}:${ref.name}`)) continue;
    known.add(`${ref.prefix}:${ref.name}`);
    refs.push(ref);
  }
  return Promise.all(
    refs.map(async ({ name, prefix }) => {
      const queue = new Queue(name, { connection: redis, prefix });
      queue.on('error', () => {});
      try {
        const [counts, paused] = await Promise.all([queue.getJobCounts(...JOB_STATES), queue.isPaused()]);
        return { name, counts: Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as QueueReport['counts'], paused };
      } finally {
        await queue.close();
      }
    }),
  );
}

function redisWarnings(queues: readonly QueueReport[], memory: RedisMemoryReport): string[] {
  const warnings: string[] = [];
  const memoryWarning = redisMemoryWarning(memory, memory.level);
  if (memoryWarning) warnings.push(memoryWarning);
  for (const q of queues) {
    if (q.counts.failed >= FAILED_JOBS_KEPT) {
      warnings.push(`${q.name}: ${formatCount(q.counts.failed)} failed jobs, as many as are kept: each new failure discards the oldest (and its data); find why they fail (Bull Board) and retry them`);
    }
  }
  return warnings;
}

async function readDatabase(sql: Sql, config: ReportConfig, now: number, services: Promise<ServiceEntry[]>) {
  const stored = await listStoredSeries(sql);
  // Configured in this shell, then what running ingest services run beyond that, then the rest stored.
  const configured = configuredSeries(config);
  const known = new Set(configured.map((s) => `${s.source}\u0000${s.symbol}`));
  for (const s of registeredSeries(await services)) {
    if (known.has(`${s.source}\u0000${s.symbol}`)) continue;
    known.add(`${s.source}\u0000${s.symbol}`);
    configured.push(s);
  }
  const extra = stored.filter((s) => !known.has(`${s.source}\u0000${s.symbol}`));
  const all = [...configured.map((s) => ({ ...s, configured: true })), ...extra.map((s) => ({ ...s, configured: false }))];
  const stats = await seriesStats(sql, all);
  const series: SeriesReport[] = all.map((s, i) => {
    const st = stats[i]!;
    return {
      source: s.source,
      symbol: s.symbol,
      assetClass: s.assetClass,
      configured: s.configured,
      ticks: st.tickCount,
      firstTick: st.firstTick?.toISOString() ?? null,
      lastTick: st.lastTick?.toISOString() ?? null,
      lagMs: st.lastTick ? now - st.lastTick.getTime() : null,
      candles: st.candleCount,
      candles1m: st.candleCount1m,
      last1mOpenTime: st.last1mOpenTime?.toISOString() ?? null,
    };
  });
  const rejections = await rejectionCounts(sql);
  const events = (await recentEvents(sql, RECENT_EVENTS)).map((e) => ({
    ts: e.ts.toISOString(),
    service: e.service,
    kind: e.kind,
    symbol: e.symbol,
    details: maskDeep(e.details),
  }));
  const health = await latestHealth(sql);
  const gaps = { counts: await gapCounts(sql), open: await listGaps(sql, { status: ['open', 'failed'], limit: OPEN_GAPS_SHOWN }) };
  return { series, rejections, events, health, gaps };
}

/** `reads` sends the database part to the read replica when one is configured (else `sql` is read). */
export async function buildReport(sql: Sql, config: ReportConfig, reads?: ReadRouter): Promise<Report> {
  const now = Date.now();
  const router = reads ?? new ReadRouter({ primary: sql, fallback: 'none' });
  const report: Report = {
    generatedAt: new Date(now).toISOString(), database: null, series: null, health: null, gaps: null, queues: null, services: null, redisMemory: null, rejections: null, events: null, warnings: [], errors: [],
  };
  let heard: (services: ServiceEntry[]) => void = () => {};
  const services = new Promise<ServiceEntry[]>((resolve) => (heard = resolve));
  const [db, redis, lag] = await Promise.allSettled([
    router.read((from) => readDatabase(from, config, now, services)), readRedis(config, heard), router.status(),
  ]);
  if (db.status === 'fulfilled') {
    Object.assign(report, db.value.value);
    const replica = router.replicaHosts === undefined ? null
      : lag.status === 'fulfilled' && lag.value ? { hosts: router.replicaHosts, available: true, ...lag.value } : { hosts: router.replicaHosts, available: false };
    report.database = { reads: db.value.from, replica };
    if (replica && !replica.available && db.value.from === 'primary') report.warnings.push(`read replica (DATABASE_READ_URL ${replica.hosts}) unavailable: read the primary (DATABASE_READ_FALLBACK=primary)`);
  } else if (db.reason instanceof ReadReplicaUnavailableError) report.errors.push(db.reason.message);
  else {
    const failed = router.target === 'replica' && router.fallback === 'none' ? config.DATABASE_READ_URL! : config.DATABASE_URL;
    report.errors.push(`Postgres (${maskUrl(failed)}): ${safeErrorMessage(db.reason)}`);
  }
  if (redis.status === 'fulfilled') {
    const { queues, redisMemory, services: entries, unreadable } = redis.value;
    Object.assign(report, { queues, redisMemory, services: serviceReports(entries, now) });
    report.warnings.push(...redisWarnings(queues, redisMemory), ...serviceWarnings(entries, unreadable, now, config.TICK_QUEUE_SHARDS));
  } else report.errors.push(`Redis (${maskUrl(config.REDIS_URL)}): ${safeErrorMessage(redis.reason)}`);
  return report;
}

export function renderReport(report: Report): string {
  const out: string[] = [`tickvault report at ${formatTime(report.generatedAt)} UTC\n`];
  for (const error of report.errors) out.push(`! ${error}\n`);
  for (const warning of report.warnings) out.push(`! ${warning}\n`);
  const replica = report.database?.replica;
  if (replica?.available && report.database?.reads === 'replica') {
    const lag = replica.lagSeconds == null ? 'unknown' : formatDuration(replica.lagSeconds * 1000);
    out.push(`Read from the replica ${replica.hosts}: ${replica.standby ? `lag ${lag}${replica.behindBytes == null ? '' : `, ${formatCount(replica.behindBytes)} bytes of WAL behind`}` : 'no longer a standby (promoted?)'}\n`);
  }

  if (report.series) {
    out.push('\nSeries\n');
    out.push(
      formatTable(
        [
          { header: 'SERIES' }, { header: 'CLASS' }, { header: 'TICKS', align: 'right' }, { header: 'FIRST TICK' }, { header: 'LAST TICK' },
          { header: 'LAG', align: 'right' }, { header: 'CANDLES', align: 'right' }, { header: '1M', align: 'right' }, { header: 'LAST 1M OPEN' },
        ],
        report.series.map((s) => [
          `${s.source}:${s.symbol}${s.configured ? '' : ' *'}`,
          s.assetClass ?? '?',
          formatCount(s.ticks),
          formatTime(s.firstTick),
          formatTime(s.lastTick),
          s.lagMs === null ? '-' : formatDuration(s.lagMs),
          formatCount(s.candles),
          formatCount(s.candles1m),
          formatTime(s.last1mOpenTime),
        ]),
      ),
    );
    if (report.series.length === 0) out.push('  no series configured or stored\n');
    if (report.series.some((s) => !s.configured)) out.push('  * stored in the database, but neither in the configured source/symbol lists nor run by a registered service\n');
  }

  if (report.health) {
    out.push('\nHealth (last scheduler check)\n');
    if (report.health.length === 0) out.push('  not checked yet (the scheduler runs it hourly; `tickvault run-now health`)\n');
    else
      out.push(
        formatTable(
          [{ header: 'SERIES' }, { header: 'STATUS' }, { header: 'POINTS/1H', align: 'right' }, { header: 'LAST UPDATE' }, { header: 'CHECKED' }, { header: 'DETAIL' }],
          report.health.map((h) => [`${h.source}:${h.symbol}`, h.status, formatCount(h.pointsLastHour), formatTime(h.lastUpdate), formatTime(h.checkedAt), truncate(h.detail ?? '', 60)]),
        ),
      );
  }

  if (report.gaps) {
    const c = report.gaps.counts;
    out.push(`\nGaps: ${c.open} open, ${c.failed} failed, ${c.filled} filled, ${c.no_data} empty at the source\n`);
    if (report.gaps.open.length > 0)
      out.push(
        formatTable(
          [{ header: 'ID', align: 'right' }, { header: 'SERIES' }, { header: 'FROM' }, { header: 'TO' }, { header: 'MISSING', align: 'right' }, { header: 'STATUS' }, { header: 'DETAIL' }],
          report.gaps.open.map((g) => [String(g.id), `${g.source}:${g.symbol}`, formatTime(g.rangeStart), formatTime(g.rangeEnd), formatCount(g.missing), g.status, truncate(g.detail ?? '', 50)]),
        ),
      );
  }

  if (report.queues) {
    out.push('\nQueues\n');
    out.push(
      formatTable(
        [{ header: 'QUEUE' }, ...JOB_STATES.map((s) => ({ header: s.toUpperCase(), align: 'right' as const })), { header: 'PAUSED' }],
        report.queues.map((q) => [q.name, ...JOB_STATES.map((s) => formatCount(q.counts[s])), q.paused ? 'yes' : 'no']),
      ),
    );
  }
  if (report.services) {
    out.push('\nServices (registered in Redis, heartbeat every 10s)\n');
    if (report.services.length === 0) out.push('  none registered: nothing runs against this Redis and QUEUE_PREFIX\n');
    else {
      const at = Date.parse(report.generatedAt);
      out.push(
        formatTable(
          [{ header: 'SERVICE' }, { header: 'HOST' }, { header: 'PID', align: 'right' }, { header: 'VERSION' }, { header: 'STARTED' }, { header: 'HEARTBEAT', align: 'right' }, { header: 'RUNS' }],
          report.services.map((s) => [s.service, s.host, String(s.pid), s.version, formatTime(s.startedAt), `${formatDuration(s.heartbeatAgeMs)} ago`, describeRuns(s, at)]),
        ),
      );
    }
  }
  if (report.redisMemory) {
    out.push(`\nRedis memory: ${describeRedisMemory(report.redisMemory)}${report.redisMemory.level === 'ok' ? '' : ` ! ${report.redisMemory.level.toUpperCase()}`}\n`);
  }

  if (report.rejections) {
    out.push('\nRejected input\n');
    if (report.rejections.length === 0) out.push('  none\n');
    else
      out.push(
        formatTable(
          [{ header: 'SOURCE' }, { header: 'REASON' }, { header: 'LAST 24H', align: 'right' }, { header: 'TOTAL', align: 'right' }],
          report.rejections.map((r) => [r.source, r.reason, formatCount(r.last24h), formatCount(r.total)]),
        ),
      );
  }

  if (report.events) {
    out.push(`\nLast ${RECENT_EVENTS} system events\n`);
    if (report.events.length === 0) out.push('  none\n');
    else
      out.push(
        formatTable(
          [{ header: 'TIME' }, { header: 'SERVICE' }, { header: 'KIND' }, { header: 'SYMBOL' }, { header: 'DETAILS' }],
          report.events.map((e) => [formatTime(e.ts), e.service, e.kind, e.symbol ?? '-', truncate(JSON.stringify(e.details), 80)]),
        ),
      );
  }
  return out.join('');
}

function parseReportArgs(args: string[]): { json: boolean; watchSeconds: number | null } {
  // `--watch` takes an optional value, which parseArgs cannot express: `--watch=N` and `--watch N` are
  // taken out first, a negative N too (parseArgs would call "-5" an unknown option and quote no range).
  let watchValue: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith('--watch=')) {
      watchValue = arg.slice('--watch='.length);
      rest.push('--watch');
    } else if (arg === '--watch' && args[i + 1] !== undefined && (!args[i + 1]!.startsWith('-') || /^-\d/.test(args[i + 1]!))) {
      watchValue = args[++i];
      rest.push('--watch');
    } else rest.push(arg);
  }
  const { values } = parseOptions(rest, { json: { type: 'boolean' }, watch: { type: 'boolean' } });
  let watchSeconds: number | null = null;
  if (values.watch) {
    watchSeconds = watchValue === undefined ? DEFAULT_WATCH_SECONDS : Number(watchValue);
    if (!Number.isFinite(watchSeconds) || watchSeconds < 1 || watchSeconds > 3600) {
      throw new UsageError(`--watch takes a number of seconds from 1 to 3600 (got "${watchValue}")`);
    }
  }
  return { json: values.json ?? false, watchSeconds };
}

export const reportCommand: Command = {
  summary: 'per-series tick and candle figures, queue depths, running services, Redis memory, rejections and recent events (--json, --watch [s])',
  usage: USAGE,
  env: REPORT_ENV,
  async run(args) {
    const options = parseReportArgs(args);
    const config = loadConfigOrExit('report', REPORT_ENV);
    const sql = createProbeDb(config.DATABASE_URL, 'tickvault-report', 2);
    const replicaSql = config.DATABASE_READ_URL ? createProbeDb(config.DATABASE_READ_URL, 'tickvault-report', 2) : undefined;
    const reads = new ReadRouter({
      primary: sql,
      ...(replicaSql && config.DATABASE_READ_URL ? { replica: { sql: replicaSql, url: config.DATABASE_READ_URL } } : {}),
      fallback: config.DATABASE_READ_FALLBACK,
    });
    const print = (report: Report) => (options.json ? `${JSON.stringify(report, null, options.watchSeconds === null ? 2 : 0)}\n` : renderReport(report));
    try {
      if (options.watchSeconds === null) {
        const report = await buildReport(sql, config, reads);
        process.stdout.write(print(report));
        return report.errors.length > 0 ? 1 : 0;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        while (!stop.signal.aborted) {
          const report = await buildReport(sql, config, reads);
          if (stop.signal.aborted) break;
          // JSON in watch mode is one document per line, for a pipe; text redraws the screen.
          if (options.json) process.stdout.write(print(report));
          else process.stdout.write(`\x1b[2J\x1b[H${print(report)}\nrefreshing every ${options.watchSeconds}s, Ctrl-C to stop\n`);
          await sleep(options.watchSeconds * 1000, undefined, { signal: stop.signal }).catch(() => {});
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      return 0;
    } finally {
      await Promise.all([sql.end({ timeout: 2 }), replicaSql?.end({ timeout: 2 })]);
    }
  },
};

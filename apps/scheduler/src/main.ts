import { Worker } from 'bullmq';
import client from 'prom-client';
import { ASSET_CLASSES, backfillQueueName, JOB_NAMES, QUEUE_NAMES, type MaintenanceJob } from '@tickvault/schema';
import { ASSET_CLASS_ENV, configuredSources, describeConfig, loadConfigOrExit, SCHEDULER_ENV, SERVICES } from '@tickvault/config';
import { assertSchemaCurrent, createDb, missingDatabaseProblem, recordEvent, withDeadline, type SeriesRef } from '@tickvault/db';
import { createMaintenanceQueue, createWorkerConnection, RedisRefusalPause, redisPing, ServiceRegistration } from '@tickvault/queue';
import { createLogger, createMetrics, errorMessage, exitCannotStart, installShutdown, startHealthServer, throttledLog, waitForDependencies } from '@tickvault/runtime';
import { BackfillQueues, runGapFill, runHealth, type SchedulerDeps } from './jobs.js';
import { ensureSchedules } from './schedules.js';

const SERVICE = 'scheduler';
// Gap detection and health are a few queries; a small pool is plenty.
const DB_POOL = 2;
// A gap-fill run over many series can take a while; longer than this and it is treated as stalled.
const LOCK_DURATION_MS = 300_000;
const DAY_MS = 86_400_000;

const config = loadConfigOrExit(SERVICE, SCHEDULER_ENV);
const logger = createLogger({ service: SERVICE, level: config.LOG_LEVEL, format: config.LOG_FORMAT, nodeEnv: config.NODE_ENV });
const metrics = createMetrics(SERVICE);
// Bound before anything connects: a port in use stops the scheduler at once, naming HEALTH_PORT.
const health = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT ?? SERVICES.scheduler.healthPort, metrics: metrics.registry })
  .catch((error: unknown) => exitCannotStart(logger, error));
const gapsDetected = new client.Counter({ name: 'tickvault_gaps_detected_total', help: 'Gaps (runs of missing 1m candles) found by gap-fill runs.', registers: [metrics.registry] });
const backfillsEnqueued = new client.Counter({ name: 'tickvault_backfills_enqueued_total', help: 'Backfill jobs enqueued for open gaps.', registers: [metrics.registry] });
const maintenanceRuns = new client.Counter({
  name: 'tickvault_maintenance_runs_total', help: 'Gap-fill and health runs, by job and outcome.', labelNames: ['job', 'outcome'], registers: [metrics.registry],
});
const seriesHealth = new client.Gauge({
  name: 'tickvault_series_health', help: 'Latest health check per series: 1 for the status it is in.', labelNames: ['source', 'symbol', 'status'], registers: [metrics.registry],
});

const series: SeriesRef[] = ASSET_CLASSES.flatMap((assetClass) =>
  configuredSources(assetClass, config).flatMap((source) =>
    (config[ASSET_CLASS_ENV[assetClass].symbols] as string[]).map((symbol) => ({ source, symbol, assetClass })),
  ),
);

const sql = createDb(config.DATABASE_URL, { max: DB_POOL, applicationName: `tickvault-${SERVICE}` });
const redis = createWorkerConnection(config.REDIS_URL, `tickvault-${SERVICE}`, config.REDIS_CLUSTER_NODES);
// Redis errors repeat per call during an outage: one line per second per error is enough.
const logRedisError = throttledLog(logger, 'warn', 1_000);
// Until the startup wait is over, its own lines report Redis (with the URL); these would repeat them.
let startupWaitOver = false;
redis.on('error', (error) => (startupWaitOver ? logRedisError : logger.debug.bind(logger))({ err: errorMessage(error) }, 'redis connection error'));
try {
  await waitForDependencies(logger, config.STARTUP_WAIT_SECONDS * 1000, [
    { what: 'Postgres', url: config.DATABASE_URL, probe: () => sql`select 1`, permanent: missingDatabaseProblem },
    { what: 'Redis', url: config.REDIS_URL, probe: () => redisPing(redis) },
  ]);
  await assertSchemaCurrent(sql);
} catch (error) {
  logger.fatal({ err: errorMessage(error) }, 'cannot start');
  await sql.end({ timeout: 1 });
  redis.disconnect();
  process.exit(1);
}
startupWaitOver = true;

const queue = createMaintenanceQueue(redis, config.QUEUE_PREFIX);
queue.on('error', (error) => logRedisError({ err: errorMessage(error) }, 'maintenance queue error'));
const backfillQueues = new BackfillQueues(redis, config.QUEUE_PREFIX, (queue, error) =>
  logRedisError({ queue, err: errorMessage(error) }, 'backfill queue error'));
const deps: SchedulerDeps = {
  sql, redis, prefix: config.QUEUE_PREFIX, logger, series, service: SERVICE,
  keep1m: config.CANDLE_RETENTION['1m'],
  tickRetentionMs: config.TICK_RETENTION_DAYS * DAY_MS,
  minPointsPerHour: config.HEALTH_MIN_POINTS_PER_HOUR,
  maxSilenceMs: config.HEALTH_MAX_SILENCE_SECONDS * 1000,
  macroRefreshDays: config.MACRO_REFRESH_DAYS,
  onGaps: (detected, enqueued) => {
    gapsDetected.inc(detected);
    backfillsEnqueued.inc(enqueued);
  },
  onHealth: (results) => {
    seriesHealth.reset();
    for (const r of results) seriesHealth.set({ source: r.source, symbol: r.symbol, status: r.status }, 1);
  },
};

const { removed } = await ensureSchedules(queue, [
  { id: JOB_NAMES.gapFill, pattern: config.GAP_FILL_CRON },
  { id: JOB_NAMES.health, pattern: config.HEALTH_CRON },
]);
if (removed.length > 0) logger.info({ removed }, 'removed job schedulers that are no longer configured');

// Any number of scheduler replicas may run: BullMQ hands each scheduled job to one worker.
const worker = new Worker<MaintenanceJob>(
  QUEUE_NAMES.maintenance,
  async (job) => {
    const run = job.name === JOB_NAMES.health ? runHealth : runGapFill;
    try {
      const result = await run(deps, backfillQueues);
      maintenanceRuns.inc({ job: job.name, outcome: 'ok' });
      return result;
    } catch (error) {
      maintenanceRuns.inc({ job: job.name, outcome: 'error' });
      throw error;
    }
  },
  // A stalled run is safe to redo (gap detection and enqueueing are idempotent), so allow several stalls.
  { connection: redis, prefix: config.QUEUE_PREFIX, concurrency: 1, lockDuration: LOCK_DURATION_MS, maxStalledCount: 5 },
);
const logWorkerError = throttledLog(logger, 'error', 1_000);
worker.on('error', (error) => logWorkerError({ err: errorMessage(error) }, 'maintenance worker error'));
worker.on('failed', (job, error) => logger.error({ job: job?.name, err: errorMessage(error) }, 'maintenance run failed'));
// BullMQ fetches again at once after a refused call (Redis out of memory); without a pause it would spin.
RedisRefusalPause.watch(worker, logger);

health.setChecks([
  { name: 'redis', check: () => redis.status === 'ready' },
  { name: 'postgres', check: () => withDeadline(sql`select 1`, 2000, 'postgres ping').then(() => true, () => false) },
]);

// What this scheduler runs, in the service registry (report, doctor and the dashboard read it).
const registration = new ServiceRegistration({
  redis, prefix: config.QUEUE_PREFIX, service: SERVICE, logger,
  describe: () => ({
    environment: null,
    queues: [
      { name: QUEUE_NAMES.maintenance, prefix: config.QUEUE_PREFIX, role: 'consumes' as const },
      ...[...new Set(series.map((s) => s.source))].map((source) => ({ name: backfillQueueName(source), prefix: config.QUEUE_PREFIX, role: 'produces' as const })),
    ],
  }),
});
await registration.start();

await recordEvent(sql, { service: SERVICE, kind: 'startup', symbol: null, details: { config: describeConfig(config), series: series.length } }).catch(() => {});
logger.info(
  { series: series.length, gapFill: config.GAP_FILL_CRON, health: config.HEALTH_CRON, healthPort: health.port },
  'scheduler started',
);

installShutdown({
  logger,
  timeoutMs: config.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  steps: () => [
    { name: 'mark not ready', run: () => health.setDraining() },
    { name: 'finish the run in hand', run: () => worker.close() },
    { name: 'close queues', run: async () => { await backfillQueues.close(); await queue.close(); } },
    { name: 'leave the service registry', run: () => registration.stop() },
    { name: 'close health server', run: () => health.close() },
    { name: 'close database', run: () => sql.end({ timeout: 5 }) },
    { name: 'close redis', run: () => void redis.quit().catch(() => redis.disconnect()) },
  ],
});

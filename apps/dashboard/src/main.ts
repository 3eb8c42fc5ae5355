import http from 'node:http';
import client from 'prom-client';
import { ASSET_CLASSES, liveChannel } from '@tickvault/schema';
import { ASSET_CLASS_ENV, ConfigError, DASHBOARD_ENV, describeConfig, describeHosts, loadConfigOrExit, SERVICES, configuredSources } from '@tickvault/config';
import { assertSchemaCurrent, createReadDb, missingDatabaseProblem, readLatest, ReadRouter, withDeadline } from '@tickvault/db';
import { Queue } from 'bullmq';
import {
  createBackfillQueue, createEventQueue, createMaintenanceQueue, createProducerConnection, createTickQueues, createWorkerConnection, readServices, redisPing,
  SERVICE_HEARTBEAT_MS, ServiceRegistration,
} from '@tickvault/queue';
import { createLogger, createMetrics, errorMessage, exitCannotStart, installShutdown, listen, startHealthServer, throttledLog, waitForDependencies } from '@tickvault/runtime';
import type { ConfiguredSeries } from './api.js';
import { createDashboardApp } from './app.js';
import { resolveAuth } from './auth.js';
import { LatestCache } from './latest-cache.js';
import { LiveHub } from './live-hub.js';
import { LoginThrottle } from './login-throttle.js';
import { QueueCatalog } from './queue-catalog.js';
import { queueDepthRefresher } from './queue-depths.js';
import { lowerCpuPriority } from './cpu-priority.js';

const SERVICE = 'dashboard';
// Read-only queries only: a small pool of its own, so the dashboard can never starve the writers.
const DB_POOL = 4;
const HEARTBEAT_MS = 15_000;
// A scrape must answer when Redis does not (as the writer's): queue depths then keep their last values.
const SCRAPE_REFRESH_DEADLINE_MS = 2_000;
const STREAM_LIMITS = {
  // About a minute and a half of updates for one chart: plenty to ride out a slow network, bounded.
  maxQueuedEvents: 100,
  // A reader whose socket has not drained for this long is gone or stuck; its slot is freed.
  stallTimeoutMs: 60_000,
  maxClients: 200,
};

const config = loadConfigOrExit(SERVICE, DASHBOARD_ENV);
const auth = resolveAuth(config);
if ('problem' in auth) {
  process.stderr.write(`${new ConfigError(SERVICE, [auth.problem]).message}\n`);
  process.exit(1);
}

const logger = createLogger({ service: SERVICE, level: config.LOG_LEVEL, format: config.LOG_FORMAT, nodeEnv: config.NODE_ENV });
try {
  const priority = lowerCpuPriority(config.DASHBOARD_NICE);
  if (priority.to !== priority.from) logger.info({ nice: priority.to, was: priority.from }, 'dashboard runs at a lower CPU priority than the pipeline (DASHBOARD_NICE)');
} catch (error) {
  logger.warn({ err: errorMessage(error), DASHBOARD_NICE: config.DASHBOARD_NICE }, 'could not lower the dashboard\'s CPU priority; it competes with the pipeline for CPU');
}
if (auth.settings.mode === 'basic' && auth.password?.from === 'file') {
  if (auth.password.generated) {
    // The only time the password is shown: later starts read it from the file without printing it.
    logger.warn(
      { user: auth.settings.user, passwordFile: auth.password.path },
      `dashboard login: user "${auth.settings.user}", password "${auth.settings.password}" (generated on this first start and kept in ${auth.password.path}; \`tickvault dashboard-password\` prints it again)`,
    );
  } else {
    logger.info({ user: auth.settings.user, passwordFile: auth.password.path }, 'dashboard password read from its file (`tickvault dashboard-password` prints it)');
  }
}
if (auth.settings.mode === 'off') {
  logger.warn(
    { DASHBOARD_AUTH: 'off' },
    'DASHBOARD AUTHENTICATION IS OFF: anyone who can reach the dashboard port can read all data and see every queued job. Use only behind a proxy that authenticates.',
  );
}

const metrics = createMetrics(SERVICE);
// Bound before anything connects: a port in use stops the dashboard at once, naming HEALTH_PORT.
const health = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT ?? SERVICES.dashboard.healthPort, metrics: metrics.registry })
  .catch((error: unknown) => exitCannotStart(logger, error));
const streamClients = new client.Gauge({ name: 'tickvault_dashboard_stream_clients', help: 'Open live streams (SSE).', registers: [metrics.registry] });
const streamQueued = new client.Gauge({
  name: 'tickvault_dashboard_stream_queued_events_max',
  help: 'Largest number of events one live stream client has waiting because it reads slowly (bounded).',
  registers: [metrics.registry],
});
const streamBuffered = new client.Gauge({
  name: 'tickvault_dashboard_stream_buffered_bytes_max',
  help: "Largest number of bytes in one live stream client's socket write buffer.",
  registers: [metrics.registry],
});
const streamDropped = new client.Gauge({
  name: 'tickvault_dashboard_stream_dropped_events',
  help: 'Live events dropped for clients that fell behind, since start.',
  registers: [metrics.registry],
});
const loginThrottle = new LoginThrottle();
const loginLockouts = new client.Counter({
  name: 'tickvault_dashboard_login_lockouts_total',
  help: 'Times a client was locked out after repeated failed logins.',
  registers: [metrics.registry],
});
const loginGauges = {
  clients: new client.Gauge({ name: 'tickvault_dashboard_login_throttle_clients', help: 'Clients with recent failed logins being tracked (bounded).', registers: [metrics.registry] }),
  lockedOut: new client.Gauge({ name: 'tickvault_dashboard_login_locked_out_clients', help: 'Clients locked out now.', registers: [metrics.registry] }),
  evicted: new client.Gauge({ name: 'tickvault_dashboard_login_throttle_evicted', help: 'Tracked clients forgotten early because the table was full, since start.', registers: [metrics.registry] }),
  refused: new client.Gauge({ name: 'tickvault_dashboard_login_refused', help: 'Requests answered 429 during a lockout, since start.', registers: [metrics.registry] }),
};
// An attacker with many addresses could start many lockouts: one line per second is enough.
const logLockout = throttledLog(logger, 'warn', 1_000);
const boardBusy = new client.Counter({
  name: 'tickvault_dashboard_board_busy_total',
  help: 'Bull Board API calls answered 503 because as many as allowed were already in flight.',
  registers: [metrics.registry],
});
const logBoardBusy = throttledLog(logger, 'warn', 10_000);
const streamStalled = new client.Gauge({
  name: 'tickvault_dashboard_stream_stalled_disconnects',
  help: 'Live stream clients disconnected because they stopped reading, since start.',
  registers: [metrics.registry],
});

const databaseUrl = config.DASHBOARD_DATABASE_URL ?? config.DATABASE_URL;
const sql = createReadDb(databaseUrl, { max: DB_POOL, applicationName: `tickvault-${SERVICE}` });
// The read API's queries go to the read replica when one is configured; the primary pool above stays
// for startup checks, readiness and (DATABASE_READ_FALLBACK=primary) reads the replica cannot answer.
const replicaSql = config.DATABASE_READ_URL ? createReadDb(config.DATABASE_READ_URL, { max: DB_POOL, applicationName: `tickvault-${SERVICE}` }) : undefined;
const logReadFallback = throttledLog(logger, 'warn', 10_000);
const reads = new ReadRouter({
  primary: sql,
  ...(replicaSql && config.DATABASE_READ_URL ? { replica: { sql: replicaSql, url: config.DATABASE_READ_URL } } : {}),
  fallback: config.DATABASE_READ_FALLBACK,
  onFallback: (error) => logReadFallback({ err: errorMessage(error), replica: describeHosts(config.DATABASE_READ_URL ?? '') }, 'read replica unavailable: reading the primary (DATABASE_READ_FALLBACK=primary)'),
});
// Fail-fast: a page or API call during a Redis outage gets an error now instead of hanging in a queue.
const redis = createProducerConnection(config.REDIS_URL, `tickvault-${SERVICE}`, config.REDIS_CLUSTER_NODES);
// Redis errors repeat per call during an outage: one line per second per error is enough.
const logRedisError = throttledLog(logger, 'warn', 1_000);
// Until the startup wait is over, its own lines report Redis (with the URL); these would repeat them.
let startupWaitOver = false;
redis.on('error', (error) => (startupWaitOver ? logRedisError : logger.debug.bind(logger))({ err: errorMessage(error) }, 'redis connection error'));
// Subscribed connections can do nothing else; this one reconnects forever and resubscribes by itself.
const subscriber = createWorkerConnection(config.REDIS_URL, `tickvault-${SERVICE}-live`, config.REDIS_CLUSTER_NODES);
subscriber.on('error', (error) => (startupWaitOver ? logRedisError : logger.debug.bind(logger))({ err: errorMessage(error) }, 'redis live subscription error'));

try {
  await waitForDependencies(logger, config.STARTUP_WAIT_SECONDS * 1000, [
    { what: 'Postgres', url: databaseUrl, probe: () => sql`select 1`, permanent: missingDatabaseProblem },
    { what: 'Redis', url: config.REDIS_URL, probe: () => redisPing(redis) },
  ]);
  await assertSchemaCurrent(sql);
} catch (error) {
  logger.fatal({ err: errorMessage(error) }, 'cannot start');
  await sql.end({ timeout: 1 });
  redis.disconnect();
  subscriber.disconnect();
  process.exit(1);
}
startupWaitOver = true;

const configuredSeries: ConfiguredSeries[] = ASSET_CLASSES.flatMap((assetClass) => {
  const vars = ASSET_CLASS_ENV[assetClass];
  return configuredSources(assetClass, config).flatMap((source) => config[vars.symbols].map((symbol) => ({ source, symbol, assetClass })));
});

const withErrorLog = (queue: Queue): Queue => queue.on('error', (error) => logRedisError({ queue: queue.name, err: errorMessage(error) }, 'queue error'));
// Every queue an operator may need to look at: all tick shards, events, maintenance, the backfill queue of each configured source,
// and any other queue a running service registered (read again with every registry heartbeat).
const catalog = new QueueCatalog(
  [
    ...createTickQueues(redis, config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS),
    createEventQueue(redis, config.QUEUE_PREFIX),
    createMaintenanceQueue(redis, config.QUEUE_PREFIX),
    ...[...new Set(configuredSeries.map((s) => s.source))].map((source) => createBackfillQueue(redis, config.QUEUE_PREFIX, source)),
  ].map(withErrorLog),
  (ref) => withErrorLog(new Queue(ref.name, { connection: redis, prefix: ref.prefix })),
);
const queues = catalog.queues;
const readRegistry = () => readServices(redis, config.QUEUE_PREFIX);
const refreshCatalog = async () => {
  try {
    const added = catalog.addRegistered((await readRegistry()).services, config.QUEUE_PREFIX);
    if (added.length > 0) logger.info({ queues: added }, 'showing queues that running services registered');
  } catch (error) {
    logRedisError({ err: errorMessage(error) }, 'service registry not readable; showing the configured queues');
  }
};
await refreshCatalog();
const catalogTimer = setInterval(() => void refreshCatalog(), SERVICE_HEARTBEAT_MS);
catalogTimer.unref();
const registration = new ServiceRegistration({
  redis, prefix: config.QUEUE_PREFIX, service: SERVICE, logger, describe: () => ({ environment: null, queues: [] }),
});

const hub = new LiveHub(STREAM_LIMITS);
const channel = liveChannel(config.QUEUE_PREFIX);
subscriber.on('message', (from, message) => {
  if (from === channel) hub.publish(message);
});
await subscriber.subscribe(channel);
const heartbeat = setInterval(() => hub.tick(), HEARTBEAT_MS);
heartbeat.unref();

let cacheErrorLogged = 0;
const latest = new LatestCache(redis, config.QUEUE_PREFIX, config.LATEST_CACHE_TTL_MS, async (series) => (await reads.read((db) => readLatest(db, series))).value, (error) => {
  // Once a minute at most: during a Redis outage every request would log it.
  if (Date.now() - cacheErrorLogged < 60_000) return;
  cacheErrorLogged = Date.now();
  logger.warn({ err: errorMessage(error) }, 'latest cache unavailable; answering from Postgres');
});

const app = createDashboardApp({
  reads, queues, latest, hub, configuredSeries, readServices: readRegistry, tickQueueShards: config.TICK_QUEUE_SHARDS, logger, auth: auth.settings, queueActions: config.DASHBOARD_QUEUE_ACTIONS,
  loginThrottle,
  onLockout: (client, lockMs) => {
    loginLockouts.inc();
    logLockout({ err: 'too many failed logins', client, lockSeconds: Math.ceil(lockMs / 1000) }, 'dashboard client locked out');
  },
  onBoardBusy: () => {
    boardBusy.inc();
    logBoardBusy({ err: 'in-flight bound reached' }, 'Bull Board API call refused (503): too many at once');
  },
});
const server = http.createServer(app);
const port = await listen(server, { host: config.DASHBOARD_HOST, port: config.DASHBOARD_PORT, variable: 'DASHBOARD_PORT', hostVariable: 'DASHBOARD_HOST' })
  .catch(async (error: unknown) => {
    // Nothing has been taken on yet: only connections to close.
    logger.fatal({ err: errorMessage(error) }, 'cannot start');
    subscriber.disconnect();
    redis.disconnect();
    await sql.end({ timeout: 1 });
    process.exit(1);
  });

const queueDepthFailures = new client.Counter({
  name: 'tickvault_dashboard_queue_depth_refresh_failures_total',
  help: 'Scrapes whose queue depths could not be read from Redis in time: tickvault_queue_jobs then holds the last values read.',
  registers: [metrics.registry],
});
const refreshQueueDepths = queueDepthRefresher({
  queues,
  gauge: metrics.queueJobs,
  deadlineMs: SCRAPE_REFRESH_DEADLINE_MS,
  onFailure: (error) => {
    queueDepthFailures.inc();
    logRedisError({ err: errorMessage(error) }, 'queue depths not refreshed for /metrics; serving the last values');
  },
});

health.setBeforeScrape(async () => {
  const stats = hub.stats();
  streamClients.set(stats.clients);
  streamQueued.set(stats.maxQueuedEvents);
  streamBuffered.set(stats.maxBufferedBytes);
  streamDropped.set(stats.droppedEvents);
  streamStalled.set(stats.stalledDisconnects);
  const logins = loginThrottle.stats();
  loginGauges.clients.set(logins.clients);
  loginGauges.lockedOut.set(logins.lockedOut);
  loginGauges.evicted.set(logins.evicted);
  loginGauges.refused.set(logins.refused);
  await refreshQueueDepths();
});
health.setChecks([
  {
    name: 'postgres',
    check: () => withDeadline(sql`select 1`, 2000, 'readiness probe').then(() => true),
  },
  { name: 'redis', check: () => redis.status === 'ready' },
  { name: 'live', check: () => subscriber.status === 'ready' },
]);

await registration.start();
logger.info(
  { port, healthPort: health.port, auth: auth.settings.mode, queueActions: config.DASHBOARD_QUEUE_ACTIONS, series: configuredSeries.length, config: describeConfig(config) },
  'dashboard started',
);

installShutdown({
  logger,
  timeoutMs: config.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  steps: () => [
    { name: 'mark not ready', run: () => health.setDraining() },
    { name: 'stop heartbeats', run: () => { clearInterval(heartbeat); clearInterval(catalogTimer); } },
    // Open streams would keep the server from closing; browsers reconnect to another replica.
    { name: 'end live streams', run: () => hub.closeAll() },
    {
      name: 'close dashboard server',
      run: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        }),
    },
    { name: 'leave the service registry', run: () => registration.stop() },
    { name: 'close health server', run: () => health.close() },
    { name: 'close queue handles', run: () => Promise.all(queues.map((q) => q.close())).then(() => undefined) },
    { name: 'close redis', run: () => { subscriber.disconnect(); void redis.quit().catch(() => redis.disconnect()); } },
    { name: 'close postgres', run: () => Promise.all([sql.end({ timeout: 5 }), replicaSql?.end({ timeout: 5 })]).then(() => undefined) },
  ],
});

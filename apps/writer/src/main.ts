import type { Worker } from 'bullmq';
import client from 'prom-client';
import { hostname } from 'node:os';
import { ASSET_CLASSES, isoMicros, liveChannel, QUEUE_NAMES, tickShards, SOURCE_ID_PATTERN, type AssetClass, type LiveUpdate } from '@tickvault/schema';
import { describeConfig, loadConfigOrExit, selectedShards, SERVICES, WRITER_ENV } from '@tickvault/config';
import { assertSchemaCurrent, checkDataEnvironment, createDb, DataEnvironmentMismatchError, missingDatabaseProblem, probeWritable, recordEvent, stopOverrunTransactions, trimExpired, V1_SCHEMA, withDeadline, writeTickBatch, writeTickBatchV1, type TickBatch, type WriteSettings } from '@tickvault/db';
import { createEventQueue, createProducerConnection, createTickQueues, createWorkerConnection, newServiceInstanceId, RedisRefusalPause, redisPing, SERVICE_HEARTBEAT_MS, ServiceRegistration, shardPendingJobs } from '@tickvault/queue';
import { createLogger, createMetrics, errorMessage, exitCannotStart, installShutdown, startHealthServer, throttledLog, waitForDependencies } from '@tickvault/runtime';
import { BatchFlusher } from './batch-flusher.js';
import { createEventWorker, createTickWorker } from './consumers.js';
import { DatabaseGate } from './database-gate.js';
import { RedisMemoryWatch } from './redis-memory.js';
import { ShardWatch } from './shard-watch.js';

const SERVICE = 'writer';
// Shards above the configured count that are checked for stranded jobs at startup.
const EXTRA_SHARDS_CHECKED = 8;
// Expired ticks are trimmed in bounded chunks this often; a full chunk triggers the next one at once.
const TRIM_INTERVAL_MS = 30_000;
// A throughput line in the log this often, so an operator sees the writer working without metrics.
const STATS_INTERVAL_MS = 30_000;
// A flush's database work is checked against the stuck-batch probe within this long.
const WRITE_PROBE_DEADLINE_MS = 5_000;
// How often readiness checks Postgres on its own, with no job in flight to notice an outage.
const DB_WATCH_INTERVAL_MS = 5_000;
// A scrape must answer even when Redis does not: queue depths keep their last values instead.
const SCRAPE_REFRESH_DEADLINE_MS = 2_000;
// INFO memory is cheap; at 50k ticks/s (~8 MB/s) 10 s is ~1% of the shipped 1 GB between readings.
const REDIS_MEMORY_INTERVAL_MS = 10_000;
const DAY_MS = 86_400_000;
// Shard coverage is read from the registry once per heartbeat: a registry change is seen as it is written.
const SHARD_WATCH_INTERVAL_MS = SERVICE_HEARTBEAT_MS;
// Ticks are trimmed this long after they stop being accepted, so a tick validated just inside the
// horizon cannot be inserted again after its first copy was trimmed.
const TRIM_MARGIN_MS = 3_600_000;

const config = loadConfigOrExit(SERVICE, WRITER_ENV);
// WRITER_SHARDS: the tick shards this writer consumes (every one by default).
const ownShards = tickShards(config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS).filter((shard) => selectedShards(config.WRITER_SHARDS, config.TICK_QUEUE_SHARDS).includes(shard.index));
// Registry entry and BullMQ worker name alike, so a job's `processedBy` names the writer that took it.
const instanceId = newServiceInstanceId();
const FLUSH_DEADLINE_MS = config.WRITER_FLUSH_DEADLINE_SECONDS * 1000;
const DB_APPLICATION_NAME = `tickvault-${SERVICE}`;

const logger = createLogger({ service: SERVICE, level: config.LOG_LEVEL, format: config.LOG_FORMAT, nodeEnv: config.NODE_ENV });
const metrics = createMetrics(SERVICE);
// Bound before anything connects: a port in use stops the writer before it takes any work.
const health = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT ?? SERVICES.writer.healthPort, metrics: metrics.registry })
  .catch((error: unknown) => exitCannotStart(logger, error));
// The server ends a statement a little before the flush deadline, so a stuck write reports the database's
// own reason (57014) and releases its locks even when this process has gone quiet.
const sql = createDb(config.DATABASE_URL, { max: config.WRITER_DB_POOL, applicationName: DB_APPLICATION_NAME, statementTimeoutMs: Math.max(500, FLUSH_DEADLINE_MS - 1_000) });
const redis = createWorkerConnection(config.REDIS_URL, `tickvault-${SERVICE}`, config.REDIS_CLUSTER_NODES);
// Reconnect attempts error once each: one line per second per error is enough.
const logRedisError = throttledLog(logger, 'warn', 1_000);
// Until the startup wait is over, its own lines report Redis (with the URL); these would repeat them.
let startupWaitOver = false;
redis.on('error', (error) => (startupWaitOver ? logRedisError : logger.debug.bind(logger))({ err: errorMessage(error) }, 'redis connection error'));
// Live updates (and the startup ping) go over a fail-fast connection: nothing queues up behind an outage.
const publisher = createProducerConnection(config.REDIS_URL, `tickvault-${SERVICE}-live`, config.REDIS_CLUSTER_NODES);
// The same outage as `redis` above, which already says so: kept out of the log below debug.
publisher.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'redis live connection error'));
const channel = liveChannel(config.QUEUE_PREFIX);

try {
  await waitForDependencies(logger, config.STARTUP_WAIT_SECONDS * 1000, [
    { what: 'Postgres', url: config.DATABASE_URL, probe: () => sql`select 1`, permanent: missingDatabaseProblem },
    { what: 'Redis', url: config.REDIS_URL, probe: () => redisPing(publisher) },
  ]);
  await assertSchemaCurrent(sql);
  const environment = await checkDataEnvironment(sql, config.DATA_ENVIRONMENT);
  if (environment.state === 'empty-other') {
    logger.info({ recorded: environment.recorded, DATA_ENVIRONMENT: config.DATA_ENVIRONMENT }, `the database is labelled ${environment.recorded} but holds no market data: its first stored row relabels it ${config.DATA_ENVIRONMENT}`);
  }
} catch (error) {
  logger.fatal({ err: errorMessage(error) }, 'cannot start');
  await sql.end({ timeout: 1 });
  redis.disconnect();
  publisher.disconnect();
  process.exit(1);
}
startupWaitOver = true;

const tickRetentionMs = Object.fromEntries(
  ASSET_CLASSES.map((ac) => [ac, (ac === 'macro' ? config.MACRO_TICK_RETENTION_DAYS : config.TICK_RETENTION_DAYS) * DAY_MS]),
) as Record<AssetClass, number>;

// The previous write path, kept for the benchmark's baseline: the same SQL against the old table shape.
const v1Sql = config.WRITER_WRITE_PATH === 'v1'
  ? createDb(config.DATABASE_URL, { max: config.WRITER_DB_POOL, applicationName: `tickvault-${SERVICE}-v1`, searchPath: `${V1_SCHEMA}, public` })
  : undefined;
const writeBatch = (batch: TickBatch, settings: WriteSettings) => (v1Sql ? writeTickBatchV1(v1Sql, batch, settings) : writeTickBatch(sql, batch, settings));

// The data environment is recorded with the first stored row, not at startup: a run that stores
// nothing leaves the database free for any environment. Until one of this writer's batches has stored
// a row, each claims the label inside its transaction.
const environmentClaim = { environment: config.DATA_ENVIRONMENT, by: `${SERVICE}@${hostname()}` };
let environmentSettled = false;
// Filled once shutdown is installed. A writer of another environment that stored data first stops this one.
const writerShutdown: { run?: (reason: string, code: number) => Promise<void> } = {};
const writeClaimingEnvironment = async (batch: TickBatch) => {
  try {
    const result = await writeBatch(batch, { candleKeep: config.CANDLE_RETENTION, ...(environmentSettled ? {} : { dataEnvironment: environmentClaim }) });
    if (result.ticksInserted > 0 || result.barsWritten > 0 || result.candlesWritten > 0) environmentSettled = true;
    return result;
  } catch (error) {
    if (error instanceof DataEnvironmentMismatchError) {
      logger.fatal({ err: error.message }, 'cannot continue');
      if (writerShutdown.run) void writerShutdown.run('data environment mismatch', 1);
      else process.exit(1);
    }
    throw error;
  }
};

const stats = { flushes: 0, jobs: 0, received: 0, inserted: 0, rejected: 0, flushMs: 0, candlesTrimmed: 0, pastRetention: 0 };
const flusher = new BatchFlusher({
  maxTicks: config.WRITER_BATCH_MAX_TICKS,
  maxWaitMs: config.WRITER_BATCH_WAIT_MS,
  maxInFlight: config.WRITER_FLUSHES_IN_FLIGHT,
  deadlineMs: FLUSH_DEADLINE_MS,
  write: writeClaimingEnvironment,
  probe: () => probeWritable(sql, WRITE_PROBE_DEADLINE_MS),
  onOverrun: async () => {
    const stopped = await withDeadline(stopOverrunTransactions(sql, DB_APPLICATION_NAME, FLUSH_DEADLINE_MS), WRITE_PROBE_DEADLINE_MS, 'stopping an overrun flush');
    if (stopped > 0) logger.warn({ stopped, deadlineMs: FLUSH_DEADLINE_MS }, 'flush passed its deadline: its transaction was stopped');
  },
  onFailed: ({ jobs, ms, error, verdict }) => {
    metrics.flushDuration.observe({ outcome: 'failed' }, ms / 1000);
    if (verdict === 'stuck') {
      logger.warn({ jobs, err: errorMessage(error) }, jobs > 1
        ? 'a batch failed while Postgres answers: writing its jobs one by one'
        : 'a job failed alone while Postgres answers: it spends an attempt');
    }
  },
  onFlushed: ({ jobs, batch, result, ms }) => {
    metrics.flushDuration.observe({ outcome: 'committed' }, ms / 1000);
    metrics.batchSize.observe(result.ticksReceived);
    metrics.ticksWritten.inc(result.ticksInserted);
    metrics.ticksDuplicate.inc(result.ticksReceived - result.ticksInserted);
    metrics.candlesWritten.inc(result.candlesWritten);
    const committedAt = Date.now();
    for (const tick of batch.ticks) metrics.writeLag.observe((committedAt - (isoMicros(tick.ts) ?? 0) / 1000) / 1000);
    for (const r of batch.rejections) {
      // The source label comes from raw input: anything but a valid id is one label, not a new series.
      if (r.origin === 'writer') metrics.ticksRejected.inc({ source: SOURCE_ID_PATTERN.test(r.source) ? r.source : 'invalid', reason: r.reason, stage: 'writer' });
    }
    stats.flushes++;
    stats.jobs += jobs;
    stats.received += result.ticksReceived;
    stats.inserted += result.ticksInserted;
    stats.rejected += result.rejectionsRecorded;
    stats.flushMs += ms;
    stats.candlesTrimmed += result.candlesTrimmed;
    stats.pastRetention += result.candleUpdatesPastRetention;
    if (result.latestCandles.length > 0 && publisher.status === 'ready') {
      const update: LiveUpdate = { at: new Date().toISOString(), candles: result.latestCandles };
      // Fire and forget, after the commit: readers never hold up storage.
      publisher.publish(channel, JSON.stringify(update)).catch(() => {});
    }
  },
});

const gate = new DatabaseGate(sql, logger, ({ up, downForMs, error }) => {
  if (up) void recordEvent(sql, { service: SERVICE, kind: 'postgres_recovered', symbol: null, details: { downForMs } }).catch(() => {});
  else logger.warn({ error }, 'postgres outage recorded; an event is written when it recovers');
});

// Filled once the workers exist; a refusal cannot arrive before they fetch.
const workers: Worker[] = [];
const refusal = new RedisRefusalPause(() => workers, logger, () => gate.isUp);

const deps = {
  connection: redis,
  prefix: config.QUEUE_PREFIX,
  sql,
  flusher,
  gate,
  refusal,
  logger,
  bounds: { dataEnvironment: config.DATA_ENVIRONMENT, maxFutureMs: config.TICK_MAX_FUTURE_SECONDS * 1000, tickRetentionMs },
  concurrency: config.WRITER_CONCURRENCY,
  lockDurationMs: config.WRITER_LOCK_DURATION_MS,
  service: SERVICE,
  workerName: instanceId,
};
// One worker per owned tick shard; each has its own blocking connection and shares the flusher, so jobs
// of every shard are written together. WRITER_CONCURRENCY applies per shard.
const tickWorkers = ownShards.map((shard) => createTickWorker(deps, shard));
const eventWorker = createEventWorker(deps);
workers.push(...tickWorkers, eventWorker);
gate.watch(DB_WATCH_INTERVAL_MS);

// Jobs in shards beyond TICK_QUEUE_SHARDS would wait unseen (a lowered shard count, or a mismatch
// between services): say so loudly at startup rather than leave them.
for (const shard of tickShards(config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS + EXTRA_SHARDS_CHECKED).slice(config.TICK_QUEUE_SHARDS)) {
  // A failed count (`redis` logs the outage already) is no evidence of waiting jobs.
  const pending = await shardPendingJobs(redis, config.QUEUE_PREFIX, shard.index).catch(() => 0);
  if (pending > 0) {
    logger.error({ queue: shard.name, pending, TICK_QUEUE_SHARDS: config.TICK_QUEUE_SHARDS }, 'jobs wait in a tick shard this writer does not consume: set TICK_QUEUE_SHARDS to the value the ingest services use (or the old, higher one until it drains)');
    await recordEvent(sql, { service: SERVICE, kind: 'unconsumed_shard', symbol: null, details: { queue: shard.name, pending } }).catch(() => {});
  }
}

// Queue handles for reading depths at scrape time (the KEDA autoscaler scales writers on them).
const depthQueues = [...createTickQueues(redis, config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS), createEventQueue(redis, config.QUEUE_PREFIX)];
// Each handle re-emits its connection's errors; without a listener BullMQ prints them as raw stack traces.
for (const queue of depthQueues) queue.on('error', (error) => logRedisError({ queue: queue.name, err: errorMessage(error) }, 'queue handle error'));
health.setBeforeScrape(() =>
  withDeadline(
    (async () => {
      for (const queue of depthQueues) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
        for (const [state, count] of Object.entries(counts)) metrics.queueJobs.set({ queue: queue.name, state }, count);
      }
    })(),
    SCRAPE_REFRESH_DEADLINE_MS,
    'queue depth refresh',
  ),
);
health.setChecks([
  { name: 'postgres', check: () => gate.isUp },
  { name: 'redis', check: () => redis.status === 'ready' && !refusal.refusing },
  { name: 'workers', check: () => tickWorkers.every((w) => w.isRunning()) && eventWorker.isRunning() },
]);

// Redis nearing maxmemory: gauges, a warning from 80%, an event when it goes high and when it recovers.
// Readiness is not tied to it (see RedisMemoryWatch): draining is what frees the memory.
const redisMemory = new RedisMemoryWatch({
  redis: publisher,
  logger,
  metrics,
  onLevelChange: (level, memory, previous) => {
    const recovered = level === 'ok' && (previous === 'high' || previous === 'full');
    if (level !== 'high' && level !== 'full' && !recovered) return;
    void recordEvent(sql, { service: SERVICE, kind: recovered ? 'redis_memory_ok' : `redis_memory_${level}`, symbol: null, details: { ...memory } }).catch(() => {});
  },
});
redisMemory.start(REDIS_MEMORY_INTERVAL_MS);

let trimming = true;
const trimLoop = (async () => {
  while (trimming) {
    if (gate.isUp) {
      try {
        const now = Date.now();
        const byAssetClass = Object.fromEntries(
          ASSET_CLASSES.map((ac) => [ac, new Date(now - tickRetentionMs[ac] - TRIM_MARGIN_MS)]),
        ) as Record<AssetClass, Date>;
        const result = await trimExpired(sql, { byAssetClass });
        if (result.ticksDeleted + result.partitionsDropped.length + result.rejectionsDeleted + result.eventsDeleted + result.gapsDeleted > 0) {
          await recordEvent(sql, { service: SERVICE, kind: 'retention', symbol: null, details: { ...result } });
          if (result.more) continue;
        }
      } catch (error) {
        logger.warn({ err: errorMessage(error) }, 'retention run failed; retrying next interval');
      }
    }
    await new Promise((r) => setTimeout(r, TRIM_INTERVAL_MS).unref());
  }
})();

const statsTimer = setInterval(() => {
  if (stats.flushes === 0) return;
  logger.info({ ...stats, flushMs: Math.round(stats.flushMs), avgFlushMs: Math.round(stats.flushMs / stats.flushes) }, 'writer throughput');
  Object.assign(stats, { flushes: 0, jobs: 0, received: 0, inserted: 0, rejected: 0, flushMs: 0, candlesTrimmed: 0, pastRetention: 0 });
}, STATS_INTERVAL_MS);
statsTimer.unref();

// What this writer consumes, in the service registry (report, doctor and the dashboard read it).
const registration = new ServiceRegistration({
  redis: publisher, prefix: config.QUEUE_PREFIX, service: SERVICE, logger, id: instanceId,
  describe: () => ({
    environment: config.DATA_ENVIRONMENT,
    queues: [
      ...ownShards.map((shard) => ({ name: shard.name, prefix: shard.prefix, role: 'consumes' as const })),
      { name: QUEUE_NAMES.events, prefix: config.QUEUE_PREFIX, role: 'consumes' as const },
    ],
    writer: { shards: ownShards.map((shard) => shard.index) },
  }),
});
await registration.start();

// Shards no live writer consumes (writers may own a subset): logged, exported, recorded as events.
const shardWatch = new ShardWatch({
  redis: publisher, prefix: config.QUEUE_PREFIX, shardCount: config.TICK_QUEUE_SHARDS, own: ownShards.map((shard) => shard.index),
  sql, logger, service: SERVICE,
  gauge: new client.Gauge({
    name: 'tickvault_orphaned_shard', help: 'Per tick queue: 1 while no live writer has consumed it for a registry TTL (WRITER_SHARDS leave it out), else 0.',
    labelNames: ['queue'], registers: [metrics.registry],
  }),
});
shardWatch.start(SHARD_WATCH_INTERVAL_MS);
// Named in /readyz without making this writer unready: its own shards are being written.
health.setNotes(() => (shardWatch.orphaned().length > 0 ? { orphanedShards: shardWatch.orphaned() } : undefined));

await recordEvent(sql, { service: SERVICE, kind: 'startup', symbol: null, details: { config: describeConfig(config), healthPort: health.port } });
logger.info({ healthPort: health.port, concurrency: config.WRITER_CONCURRENCY, shards: ownShards.map((shard) => shard.index) }, 'writer started');

writerShutdown.run = installShutdown({
  logger,
  timeoutMs: config.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  steps: () => [
    { name: 'mark not ready', run: () => { health.setDraining(); refusal.stop(); redisMemory.stop(); } },
    // close() stops fetching and waits for active jobs, whose flushes commit before they complete.
    { name: 'close workers', run: () => Promise.all([...tickWorkers.map((w) => w.close()), eventWorker.close()]).then(() => undefined) },
    { name: 'drain writes', run: () => flusher.drain() },
    { name: 'stop retention', run: () => { trimming = false; gate.stop(); } },
    { name: 'record shutdown', run: () => recordEvent(sql, { service: SERVICE, kind: 'shutdown', symbol: null, details: {} }).then(() => undefined) },
    { name: 'stop the shard watch', run: () => shardWatch.stop() },
    { name: 'leave the service registry', run: () => registration.stop() },
    { name: 'close health server', run: () => health.close() },
    { name: 'close queue handles', run: () => Promise.all(depthQueues.map((q) => q.close())).then(() => undefined) },
    { name: 'close redis', run: () => { void redis.quit().catch(() => redis.disconnect()); publisher.disconnect(); } },
    { name: 'close postgres', run: () => Promise.all([sql.end({ timeout: 5 }), v1Sql?.end({ timeout: 5 })]).then(() => {}) },
  ],
}).shutdown;
void trimLoop;

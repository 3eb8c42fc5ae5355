import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { JOB_NAMES, type AssetClass } from '@tickvault/schema';
import { describeConfig, loadConfigOrExit, SOURCE_SETTINGS_ENV } from '@tickvault/config';
import { createEventQueue, createProducerConnection, createTickQueue, redisPing } from '@tickvault/queue';
import { createLogger, createMetrics, errorMessage, installShutdown, startHealthServer, waitForDependencies } from '@tickvault/runtime';
import { createSources, UnknownSourceError } from '@tickvault/sources';
import { ASSET_CLASS_ENV, DEFAULT_HEALTH_PORTS, INGEST_COMMON_ENV } from './env.js';
import { DeliveredProgress } from './delivered-progress.js';
import { Outbox } from './outbox.js';
import { IngestPipeline } from './pipeline.js';
import { SourceRunner } from './source-runner.js';
import { SymbolLeases } from './symbol-leases.js';

/**
 * The composition of one ingest service: config → logger → Redis producer → sources → pipeline
 * → health → shutdown. The three ingest apps differ only in their asset class.
 */
export async function runIngestService(assetClass: AssetClass): Promise<void> {
  const service = `ingest-${assetClass}`;
  const vars = ASSET_CLASS_ENV[assetClass];
  const config = loadConfigOrExit(service, [...INGEST_COMMON_ENV, vars.sources, vars.symbols, ...SOURCE_SETTINGS_ENV[assetClass]]);
  const sourceIds = config[vars.sources] as string[];
  const symbols = config[vars.symbols] as string[];
  const logger = createLogger({ service, level: config.LOG_LEVEL, format: config.LOG_FORMAT, nodeEnv: config.NODE_ENV });
  const metrics = createMetrics(service);

  let sources;
  try {
    sources = createSources(sourceIds, assetClass, config.SIM_SEED, vars.sources, {
      maxFutureMs: config.TICK_MAX_FUTURE_SECONDS * 1000,
      // Read by ingest-crypto only (SOURCE_SETTINGS_ENV); undefined elsewhere, where binance cannot run.
      binance: { wsUrl: config.BINANCE_WS_URL, restUrl: config.BINANCE_REST_URL, staleSeconds: config.BINANCE_STALE_SECONDS, weightPerMinute: config.BINANCE_WEIGHT_PER_MINUTE },
    });
  } catch (error) {
    if (!(error instanceof UnknownSourceError)) throw error;
    process.stderr.write(`Invalid configuration for ${service}:\n  - ${error.message}\n`);
    process.exit(1);
  }

  const redis = createProducerConnection(config.REDIS_URL, `tickvault-${service}`);
  redis.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'redis connection error'));
  try {
    await waitForDependencies(logger, config.STARTUP_WAIT_SECONDS * 1000, [{ what: 'Redis', probe: () => redisPing(redis) }]);
  } catch (error) {
    logger.fatal({ err: errorMessage(error) }, 'cannot start');
    redis.disconnect();
    process.exit(1);
  }

  const replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const tickQueue = createTickQueue(redis, config.QUEUE_PREFIX);
  const eventQueue = createEventQueue(redis, config.QUEUE_PREFIX);
  tickQueue.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'tick queue error'));
  eventQueue.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'event queue error'));
  const delivered = new DeliveredProgress();
  const outbox = new Outbox(
    {
      sendTicks: (jobs) =>
        tickQueue.addBulk(jobs.map(({ id, data }) => ({ name: JOB_NAMES.tickBatch, data, opts: { jobId: id } }))).then(() => undefined),
      sendEvents: (events) =>
        eventQueue.addBulk(events.map(({ id, data }) => ({ name: JOB_NAMES.systemEvent, data, opts: { jobId: id } }))).then(() => undefined),
      onDelivered: (jobs) => delivered.record(jobs),
    },
    config.INGEST_BUFFER_MAX_TICKS,
    logger,
    service,
  );
  const pipeline = new IngestPipeline({
    service, assetClass, symbols, producer: `${service}@${replicaId}`,
    maxTicksPerJob: config.INGEST_BATCH_MAX_TICKS,
    flushMs: config.INGEST_FLUSH_MS,
    maxFutureMs: config.TICK_MAX_FUTURE_SECONDS * 1000,
    outbox, logger, metrics,
  });

  let droppedReported = 0;
  // Replicas of this service share the symbols of each source through leases in Redis.
  const runners = sources.map((source) => {
    const runner = new SourceRunner(source, pipeline, redis, {
      prefix: config.QUEUE_PREFIX, service, logger, delivered,
      onReconnect: (sourceId) => metrics.reconnects.inc({ source: sourceId }),
    });
    const leases = new SymbolLeases({
      redis, prefix: config.QUEUE_PREFIX, service, source: source.id, symbols, replicaId,
      ttlMs: config.INGEST_LEASE_TTL_MS, logger,
      onChange: (held, acquired) => runner.setSymbols(held, acquired),
    });
    return { runner, leases };
  });
  for (const { runner, leases } of runners) {
    runner.start();
    leases.start();
  }
  const progressTimer = setInterval(() => {
    for (const { runner } of runners) void runner.saveProgress();
  }, config.INGEST_LEASE_TTL_MS / 3);
  progressTimer.unref();

  const health = await startHealthServer({
    host: config.HEALTH_HOST,
    port: config.HEALTH_PORT ?? DEFAULT_HEALTH_PORTS[assetClass],
    checks: [{ name: 'redis', check: () => redis.status === 'ready' && outbox.healthy }],
    metrics: metrics.registry,
    beforeScrape: () => {
      const { bufferedTicks, droppedTicks } = outbox.stats();
      metrics.ingestBuffered.set(bufferedTicks);
      metrics.ingestDropped.inc(droppedTicks - droppedReported);
      droppedReported = droppedTicks;
    },
  });

  outbox.pushEvent({
    ts: new Date().toISOString(), service, kind: 'startup', symbol: null,
    details: { config: describeConfig(config), sources: sourceIds, symbols },
  });
  logger.info({ sources: sourceIds, symbols, replicaId, healthPort: health.port }, sourceIds.length === 0 ? `${service} started with no sources (disabled)` : `${service} started`);

  const statsTimer = setInterval(() => {
    logger.info({ ...pipeline.counters, ...outbox.stats() }, 'ingest throughput');
  }, 30_000);
  statsTimer.unref();

  installShutdown({
    logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    steps: () => [
      { name: 'mark not ready', run: () => health.setDraining() },
      {
        name: 'stop sources and release symbols',
        run: async () => {
          clearInterval(progressTimer);
          await Promise.all(runners.map(async ({ runner, leases }) => { await runner.stop(); await leases.stop(); }));
        },
      },
      { name: 'flush micro-batch', run: () => pipeline.flush() },
      {
        name: 'drain outbox',
        // Leave a second of the hard timeout for closing connections.
        run: () => outbox.close(Date.now() + Math.max(1000, config.SHUTDOWN_TIMEOUT_SECONDS * 1000 - 2000)),
      },
      { name: 'close health server', run: () => health.close() },
      { name: 'close queues', run: () => Promise.all([tickQueue.close(), eventQueue.close()]).then(() => undefined) },
      { name: 'close redis', run: () => void redis.quit().catch(() => redis.disconnect()) },
    ],
  });
}

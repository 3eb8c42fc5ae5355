import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { backfillQueueName, JOB_NAMES, type AssetClass } from '@tickvault/schema';
import { configuredSources, describeConfig, loadConfigOrExit, SOURCE_SETTINGS_ENV } from '@tickvault/config';
import { createEventQueue, createProducerConnection, createTickQueues, createWorkerConnection, pipelineQueues, redisPing, ServiceRegistration } from '@tickvault/queue';
import { createLogger, createMetrics, errorMessage, exitCannotStart, installShutdown, startHealthServer, waitForDependencies } from '@tickvault/runtime';
import { createSources, UnknownSourceError, type MarketSource } from '@tickvault/sources';
import { ASSET_CLASS_ENV, DEFAULT_HEALTH_PORTS, INGEST_COMMON_ENV } from './env.js';
import { DeliveredProgress } from './delivered-progress.js';
import { Outbox, outboxLimits } from './outbox.js';
import { IngestPipeline } from './pipeline.js';
import { SourceRunner } from './source-runner.js';
import { SymbolLeases } from './symbol-leases.js';
import { liveEnvironmentProblems } from './live-guard.js';
import { RedisTokenBucket } from './redis-limiter.js';
import { createBackfillWorker } from './backfill.js';
import { splitByShard } from './shard-split.js';

/**
 * The composition of one ingest service: config → logger → Redis producer → sources → pipeline
 * → health → shutdown. The three ingest apps differ only in their asset class.
 */
export async function runIngestService(assetClass: AssetClass): Promise<void> {
  const service = `ingest-${assetClass}`;
  const vars = ASSET_CLASS_ENV[assetClass];
  const config = loadConfigOrExit(service, [...INGEST_COMMON_ENV, vars.sources, vars.symbols, ...SOURCE_SETTINGS_ENV[assetClass]]);
  const sourceIds = configuredSources(assetClass, config);
  const symbols = config[vars.symbols] as string[];
  const logger = createLogger({ service, level: config.LOG_LEVEL, format: config.LOG_FORMAT, nodeEnv: config.NODE_ENV });
  const metrics = createMetrics(service);
  const exitWithProblems = (problems: readonly string[]): never => {
    process.stderr.write(`Invalid configuration for ${service}:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  };
  if (config.DATA_ENVIRONMENT === 'live') {
    const problems = liveEnvironmentProblems(vars.sources, sourceIds, config);
    if (problems.length > 0) exitWithProblems(problems);
  }

  const redis = createProducerConnection(config.REDIS_URL, `tickvault-${service}`, config.REDIS_CLUSTER_NODES);
  let sources: MarketSource[] = [];
  try {
    // Each provider's settings are read only by the ingest service of its asset class (SOURCE_SETTINGS_ENV).
    sources = createSources(sourceIds, assetClass, config.SIM_SEED, vars.sources, {
      maxFutureMs: config.TICK_MAX_FUTURE_SECONDS * 1000,
      binance: { wsUrl: config.BINANCE_WS_URL, restUrl: config.BINANCE_REST_URL, staleSeconds: config.BINANCE_STALE_SECONDS, weightPerMinute: config.BINANCE_WEIGHT_PER_MINUTE },
      coinbase: { wsUrl: config.COINBASE_WS_URL, restUrl: config.COINBASE_REST_URL },
      alpaca: { wsUrl: config.ALPACA_WS_URL, restUrl: config.ALPACA_REST_URL, feed: config.ALPACA_FEED, keyId: config.ALPACA_KEY_ID, secretKey: config.ALPACA_SECRET_KEY },
      yahoo: { chartUrl: config.YAHOO_CHART_URL, pollSeconds: config.YAHOO_POLL_SECONDS },
      fred: { apiUrl: config.FRED_API_URL, graphUrl: config.FRED_GRAPH_URL, apiKey: config.FRED_API_KEY, pollSeconds: config.FRED_POLL_SECONDS },
    }, (key, budget) => new RedisTokenBucket(redis, { prefix: config.QUEUE_PREFIX, key, perMinute: budget.perMinute, logger }));
  } catch (error) {
    redis.disconnect();
    if (!(error instanceof UnknownSourceError)) throw error;
    exitWithProblems([error.message]);
  }

  redis.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'redis connection error'));
  // Bound once the configuration has passed every check and before any source runs: a port in use
  // stops the service before it takes in data, naming HEALTH_PORT.
  const health = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT ?? DEFAULT_HEALTH_PORTS[assetClass], metrics: metrics.registry })
    .catch((error: unknown) => {
      redis.disconnect();
      return exitCannotStart(logger, error);
    });
  try {
    await waitForDependencies(logger, config.STARTUP_WAIT_SECONDS * 1000, [{ what: 'Redis', url: config.REDIS_URL, probe: () => redisPing(redis) }]);
  } catch (error) {
    logger.fatal({ err: errorMessage(error) }, 'cannot start');
    redis.disconnect();
    process.exit(1);
  }

  const replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const tickQueues = createTickQueues(redis, config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS);
  const eventQueue = createEventQueue(redis, config.QUEUE_PREFIX);
  for (const queue of tickQueues) queue.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'tick queue error'));
  eventQueue.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'event queue error'));
  const delivered = new DeliveredProgress();
  const outbox = new Outbox(
    {
      sendTicks: async (jobs) => {
        const byShard = splitByShard(jobs, tickQueues.length);
        await Promise.all(
          byShard.map((parts, shard) =>
            parts.length === 0
              ? undefined
              : tickQueues[shard]!.addBulk(parts.map(({ id, data }) => ({ name: JOB_NAMES.tickBatch, data, opts: { jobId: id } }))),
          ),
        );
      },
      sendEvents: (events) =>
        eventQueue.addBulk(events.map(({ id, data }) => ({ name: JOB_NAMES.systemEvent, data, opts: { jobId: id } }))).then(() => undefined),
      onDelivered: (jobs) => delivered.record(jobs),
    },
    outboxLimits(config.INGEST_BUFFER_MAX_TICKS),
    logger,
    service,
  );
  const pipeline = new IngestPipeline({
    service, assetClass, symbols, producer: `${service}@${replicaId}`, dataEnvironment: config.DATA_ENVIRONMENT,
    maxTicksPerJob: config.INGEST_BATCH_MAX_TICKS,
    flushMs: config.INGEST_FLUSH_MS,
    maxFutureMs: config.TICK_MAX_FUTURE_SECONDS * 1000,
    outbox, logger, metrics,
  });

  let droppedReported = 0;
  let droppedRejectionsReported = 0;
  // What this process runs, in the service registry (report, doctor, the dashboard and Bull Board read it).
  const registration = new ServiceRegistration({
    redis, prefix: config.QUEUE_PREFIX, service, id: replicaId, logger,
    describe: () => ({
      environment: config.DATA_ENVIRONMENT,
      queues: [
        ...pipelineQueues(config.QUEUE_PREFIX, config.TICK_QUEUE_SHARDS, 'produces'),
        ...sourceIds.map((id) => ({ name: backfillQueueName(id), prefix: config.QUEUE_PREFIX, role: 'consumes' as const })),
      ],
      ingest: {
        assetClass, symbols, shards: config.TICK_QUEUE_SHARDS,
        sources: runners.map(({ runner }) => runner.connection.status(runner.heldSymbols)),
      },
    }),
  });
  // Replicas of this service share the symbols of each source through leases in Redis.
  const runners = sources.map((source) => {
    const runner = new SourceRunner(source, pipeline, redis, {
      prefix: config.QUEUE_PREFIX, service, logger, delivered,
      onReconnect: (sourceId) => metrics.reconnects.inc({ source: sourceId }),
      // Shown at once rather than at the next heartbeat: "is binance connected?" should not lag 10 s.
      onConnectionChange: () => void registration.refresh(),
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
  // Backfills (gap-fill, health follow-ups, `tickvault backfill`) for this service's sources, from any replica.
  const workerConnection = createWorkerConnection(config.REDIS_URL, `tickvault-${service}-backfill`, config.REDIS_CLUSTER_NODES);
  workerConnection.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'backfill redis connection error'));
  const backfillWorkers = sources.map((source) =>
    createBackfillWorker({
      source, pipeline, outbox, connection: workerConnection, prefix: config.QUEUE_PREFIX, service, logger,
      onResult: (result) => metrics.backfills.inc({ source: result.source, status: result.status }),
    }),
  );
  const progressTimer = setInterval(() => {
    for (const { runner } of runners) void runner.saveProgress();
  }, config.INGEST_LEASE_TTL_MS / 3);
  progressTimer.unref();

  health.setChecks([{ name: 'redis', check: () => redis.status === 'ready' && outbox.healthy }]);
  health.setBeforeScrape(() => {
    const { bufferedTicks, bufferedBytes, droppedTicks, droppedRejections } = outbox.stats();
    metrics.ingestBuffered.set(bufferedTicks);
    metrics.ingestBufferedBytes.set(bufferedBytes);
    metrics.ingestDropped.inc(droppedTicks - droppedReported);
    droppedReported = droppedTicks;
    metrics.ingestDroppedRejections.inc(droppedRejections - droppedRejectionsReported);
    droppedRejectionsReported = droppedRejections;
    const now = Date.now();
    for (const { runner } of runners) {
      const source = { source: runner.connection.source };
      const gauges = runner.connection.gauges(now);
      metrics.sourceConnected.set(source, gauges.connected);
      metrics.sourceDisconnectedSeconds.set(source, gauges.disconnectedSeconds);
      if (gauges.lastMessageAgeSeconds !== null) metrics.sourceLastMessageAge.set(source, gauges.lastMessageAgeSeconds);
    }
  });

  outbox.pushEvent({
    ts: new Date().toISOString(), service, kind: 'startup', symbol: null,
    details: { config: describeConfig(config), sources: sourceIds, symbols },
  });
  await registration.start();
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
      // A backfill in hand finishes (its data goes through the outbox below) or comes back to the queue.
      { name: 'stop backfills', run: () => Promise.all(backfillWorkers.map((w) => w.close())).then(() => undefined) },
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
      { name: 'leave the service registry', run: () => registration.stop() },
      { name: 'close health server', run: () => health.close() },
      { name: 'close queues', run: () => Promise.all([...tickQueues.map((q) => q.close()), eventQueue.close()]).then(() => undefined) },
      { name: 'close redis', run: () => {
        void redis.quit().catch(() => redis.disconnect());
        void workerConnection.quit().catch(() => workerConnection.disconnect());
      } },
    ],
  });
}

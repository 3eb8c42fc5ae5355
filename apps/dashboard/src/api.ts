import express, { type ErrorRequestHandler, type Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { DEFAULT_QUEUE_PREFIX, tickShards, TIMEFRAMES_BY_ASSET_CLASS, type AssetClass } from '@tickvault/schema';
import { maskUrlsInText } from '@tickvault/config';
import {
  isConnectionError, listStoredSeries, readCandles, ReadReplicaUnavailableError, readTicks, recentEvents, rejectionsByReason, seriesStats, ticksSince,
  type ReadRouter, type ReadSource, type ReplicaStatus, type Sql,
} from '@tickvault/db';
import { orphanedShardsNow, registeredSeries, tickvaultVersion, type ServiceEntry } from '@tickvault/queue';
import { errorMessage, type Logger } from '@tickvault/runtime';
import type { LatestCache } from './latest-cache.js';
import type { LiveHub } from './live-hub.js';
import { openApiDocument } from './openapi.js';
import {
  limitParam, MAX_TICK_RANGE_MS, ParameterError, parseQuery, seriesListParam, sourceParam, symbolParam, timeframeParam, timeParam,
} from './params.js';

const HOUR_MS = 3_600_000;
// /api/series counts every stored tick of every series; several open pages share one computation.
const SERIES_REUSE_MS = 3000;
// Tick timestamps may run a little ahead of the clock (TICK_MAX_FUTURE_SECONDS); the default window covers that.
const TICKS_DEFAULT_AHEAD_MS = HOUR_MS;
const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;
const SSE_RETRY_MS = 5000;
// The registry changes with heartbeats (10 s): pages polling every few seconds share one read.
const SERVICES_REUSE_MS = 2000;
// The replica's lag is read at most this often, however many requests carry it.
const LAG_REUSE_MS = 1000;

/** Redis could not answer (the dashboard's Redis connection fails fast instead of queueing commands). */
class RedisUnavailableError extends Error {}

export interface ConfiguredSeries {
  source: string;
  symbol: string;
  assetClass: AssetClass;
}

export interface ApiDeps {
  /** Where reads go: the read replica (DATABASE_READ_URL) when configured, with its fallback rule. */
  reads: ReadRouter;
  queues: readonly Queue[];
  latest: LatestCache;
  hub: LiveHub;
  configuredSeries: readonly ConfiguredSeries[];
  /** The service registry: what running services say they run (rejects when Redis cannot answer). */
  readServices: () => Promise<{ services: ServiceEntry[]; unreadable: number }>;
  /** TICK_QUEUE_SHARDS, for naming shards no live writer consumes (default 1). */
  tickQueueShards?: number;
  logger: Logger;
}

/** Event details are free-form and may quote a driver error with a URL in it: every string is masked. */
function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskUrlsInText(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v)]));
  return value;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Runs `compute` at most once at a time and reuses its result for `reuseMs`. */
function shared<T>(compute: () => Promise<T>, reuseMs: number): () => Promise<T> {
  let last: { at: number; value: Promise<T>; settled: boolean } | undefined;
  return () => {
    const now = Date.now();
    // A query still running is shared however old it is: slow answers must not pile up in the pool.
    if (!last || (last.settled && now - last.at > reuseMs)) {
      const entry = { at: now, value: compute(), settled: false };
      last = entry;
      entry.value.then(
        () => {
          entry.settled = true;
          entry.at = Date.now();
        },
        // A failure is not reused: the next request tries again.
        () => {
          if (last === entry) last = undefined;
        },
      );
    }
    return last.value;
  };
}

export function createApiRouter(deps: ApiDeps): Router {
  const { reads, hub } = deps;
  const api = express.Router();

  const replicaLag = shared(() => reads.status(), LAG_REUSE_MS);
  /**
   * Runs a read where the router sends it and says where in the response: `X-Read-Database` (replica or
   * primary) and, from the replica, `X-Replica-Lag-Seconds` (absent when it could not be read).
   */
  const read = async <T>(res: express.Response, work: (sql: Sql) => Promise<T>): Promise<T> => {
    const { value, from } = await reads.read(work);
    await describeSource(res, from);
    return value;
  };
  const describeSource = async (res: express.Response, from: ReadSource) => {
    res.set('X-Read-Database', from);
    if (from !== 'replica') return;
    const status = await replicaLag().catch(() => null);
    if (status?.lagSeconds != null) res.set('X-Replica-Lag-Seconds', status.lagSeconds.toFixed(3));
  };

  const servicesSnapshot = shared(async () => {
    const { services, unreadable } = await deps.readServices().catch((error: unknown) => {
      throw new RedisUnavailableError(errorMessage(error));
    });
    return { generatedAt: new Date().toISOString(), services, unreadable };
  }, SERVICES_REUSE_MS);

  const seriesSnapshot = shared(async () => {
    const now = Date.now();
    // Configured here, or run by a registered ingest service (whose environment may list sources this
    // one does not). Without Redis the configured lists still answer.
    const running = await servicesSnapshot().then((s) => registeredSeries(s.services), () => []);
    const configured = [...deps.configuredSeries];
    const known = new Set(configured.map((s) => `${s.source}:${s.symbol}`));
    for (const s of running) {
      if (known.has(`${s.source}:${s.symbol}`)) continue;
      known.add(`${s.source}:${s.symbol}`);
      configured.push(s);
    }
    const { value: { all, stats, lastHour }, from } = await reads.read(async (sql) => {
      const extra = (await listStoredSeries(sql)).filter((s) => !known.has(`${s.source}:${s.symbol}`));
      const all = [
        ...configured.map((s) => ({ ...s, configured: true })),
        ...extra.map((s) => ({ source: s.source, symbol: s.symbol, assetClass: s.assetClass as AssetClass | null, configured: false })),
      ];
      const [stats, lastHour] = await Promise.all([seriesStats(sql, all), ticksSince(sql, all, new Date(now - HOUR_MS))]);
      return { all, stats, lastHour };
    });
    return {
      from,
      generatedAt: new Date(now).toISOString(),
      series: all.map((s, i) => {
        const st = stats[i]!;
        return {
          series: `${s.source}:${s.symbol}`,
          source: s.source,
          symbol: s.symbol,
          assetClass: s.assetClass,
          configured: s.configured,
          timeframes: s.assetClass ? TIMEFRAMES_BY_ASSET_CLASS[s.assetClass] : [],
          ticks: st.tickCount,
          firstTick: iso(st.firstTick),
          lastTick: iso(st.lastTick),
          lagMs: st.lastTick ? now - st.lastTick.getTime() : null,
          ticksLastHour: lastHour[i]!,
          candles: st.candleCount,
          candles1m: st.candleCount1m,
          last1mOpenTime: iso(st.last1mOpenTime),
        };
      }),
    };
  }, SERIES_REUSE_MS);

  api.get('/series', async (req, res) => {
    parseQuery(req.query, {});
    const { from, ...body } = await seriesSnapshot();
    await describeSource(res, from);
    res.json(body);
  });

  api.get('/candles', async (req, res) => {
    const q = parseQuery(req.query, {
      source: sourceParam,
      symbol: symbolParam,
      timeframe: timeframeParam,
      from: timeParam.optional(),
      to: timeParam.optional(),
      limit: limitParam,
    });
    if (q.from && q.to && q.from >= q.to) throw new ParameterError('to', 'must be later than from');
    const result = await read(res, (sql) => readCandles(sql, q));
    res.json({ source: q.source, symbol: q.symbol, timeframe: q.timeframe, ...result });
  });

  api.get('/ticks', async (req, res) => {
    const q = parseQuery(req.query, {
      source: sourceParam,
      symbol: symbolParam,
      from: timeParam.optional(),
      to: timeParam.optional(),
      limit: limitParam,
    });
    // Without `from`: the newest ticks before `to`. With it: the oldest from `from`. Either way the
    // window spans at most MAX_TICK_RANGE_MS, so no request walks more than a month of the index.
    const to = q.to ?? (q.from ? new Date(Math.min(q.from.getTime() + MAX_TICK_RANGE_MS, Date.now() + TICKS_DEFAULT_AHEAD_MS)) : new Date(Date.now() + TICKS_DEFAULT_AHEAD_MS));
    const from = q.from ?? new Date(to.getTime() - MAX_TICK_RANGE_MS);
    if (from >= to) throw new ParameterError('to', 'must be later than from');
    if (to.getTime() - from.getTime() > MAX_TICK_RANGE_MS) throw new ParameterError('from', `must be at most ${MAX_TICK_RANGE_MS / 86_400_000} days before to`);
    const result = await read(res, (sql) => readTicks(sql, { source: q.source, symbol: q.symbol, from, to, limit: q.limit, newest: q.from === undefined }));
    res.json({ source: q.source, symbol: q.symbol, from: from.toISOString(), to: to.toISOString(), ...result });
  });

  api.get('/latest', async (req, res) => {
    const q = parseQuery(req.query, { symbols: seriesListParam });
    res.json({ latest: await deps.latest.get(q.symbols) });
  });

  api.get('/queues', async (req, res) => {
    parseQuery(req.query, {});
    const queues = await Promise.all(
      deps.queues.map(async (queue) => {
        const [counts, paused] = await Promise.all([queue.getJobCounts(...JOB_STATES), queue.isPaused()]).catch((error: unknown) => {
          throw new RedisUnavailableError(errorMessage(error));
        });
        return { name: queue.name, counts: Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])), paused };
      }),
    );
    res.json({ queues });
  });

  api.get('/database', async (req, res) => {
    parseQuery(req.query, {});
    // Where reads go now, and how far behind the replica is. A replica that does not answer: 503 naming
    // it, unless reads fall back to the primary, which this then says.
    const status = await replicaLag().catch((error: unknown) => {
      if (error instanceof ReadReplicaUnavailableError && reads.fallback === 'primary') return error;
      throw error;
    });
    const body: { reads: ReadSource; fallback: string; replica: (Partial<ReplicaStatus> & { hosts: string; available: boolean; error?: string }) | null } = {
      reads: status instanceof Error ? 'primary' : reads.target, fallback: reads.fallback, replica: null,
    };
    if (status instanceof Error) body.replica = { hosts: reads.replicaHosts!, available: false, error: status.message };
    else if (status) body.replica = { hosts: reads.replicaHosts!, available: true, ...status };
    res.set('X-Read-Database', body.reads);
    res.json(body);
  });

  api.get('/services', async (req, res) => {
    parseQuery(req.query, {});
    const snapshot = await servicesSnapshot();
    const now = Date.now();
    const orphaned = orphanedShardsNow(snapshot.services, deps.tickQueueShards ?? 1, now);
    // Queue names do not depend on the prefix.
    const names = tickShards(DEFAULT_QUEUE_PREFIX, (orphaned.at(-1) ?? 0) + 1);
    res.json({
      ...snapshot,
      services: snapshot.services.map((s) => ({ ...s, heartbeatAgeMs: Math.max(0, now - Date.parse(s.heartbeatAt)) })),
      orphanedShards: orphaned.map((shard) => ({ shard, queue: names[shard]!.name })),
    });
  });

  api.get('/rejections', async (req, res) => {
    const q = parseQuery(req.query, {
      hours: z.string().regex(/^\d+$/, 'must be a whole number of hours from 1 to 720').transform(Number).pipe(z.number().int().min(1).max(720)).default(24),
    });
    res.json({ hours: q.hours, rejections: await read(res, (sql) => rejectionsByReason(sql, new Date(Date.now() - q.hours * HOUR_MS))) });
  });

  api.get('/events', async (req, res) => {
    const q = parseQuery(req.query, {
      limit: z.string().regex(/^\d+$/, 'must be a whole number from 1 to 100').transform(Number).pipe(z.number().int().min(1).max(100)).default(20),
    });
    const events = await read(res, (sql) => recentEvents(sql, q.limit));
    res.json({
      events: events.map((e) => ({ ts: e.ts.toISOString(), service: e.service, kind: e.kind, symbol: e.symbol, details: maskDeep(e.details) })),
    });
  });

  // HEAD would take a stream slot whose writes Node silently discards, so stall detection never fires.
  api.head('/stream', (_req, res) => {
    res.set('Allow', 'GET').status(405).end();
  });
  api.get('/stream', (req, res) => {
    const q = parseQuery(req.query, { series: seriesListParam, timeframe: timeframeParam });
    const filter = { series: new Set(q.series.map((s) => `${s.source}:${s.symbol}`)), timeframe: q.timeframe };
    const client = hub.add(res, filter);
    if (!client) {
      res.status(503).set('Retry-After', '30').json({ error: 'too many live streams open; try again later' });
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx buffers responses by default, which would hold events back.
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: ${SSE_RETRY_MS}\n: connected\n\n`);
    req.socket.setNoDelay(true);
    res.on('close', () => hub.remove(client));
  });

  api.get('/stream/stats', (req, res) => {
    parseQuery(req.query, {});
    res.json(hub.stats());
  });

  const openApi = openApiDocument(tickvaultVersion());
  api.get('/openapi.json', (req, res) => {
    parseQuery(req.query, {});
    res.json(openApi);
  });

  // Only GET exists here: the API never changes anything.
  api.use((req, res) => {
    res.status(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405).json({ error: req.method === 'GET' || req.method === 'HEAD' ? 'not found' : 'the API is read-only' });
  });
  api.use(apiErrorHandler(deps.logger));
  return api;
}

export function apiErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (error instanceof ParameterError) {
      res.status(400).json({ error: error.message, parameter: error.parameter });
      return;
    }
    if (error instanceof ReadReplicaUnavailableError) {
      logger.warn({ path: req.path, err: error.message }, 'read replica unavailable for a read');
      res.status(503).json({ error: error.message, database: 'replica', hosts: error.hosts });
      return;
    }
    if (error instanceof RedisUnavailableError) {
      logger.warn({ path: req.path, err: maskUrlsInText(error.message) }, 'redis unavailable for a read');
      res.status(503).json({ error: 'redis unavailable' });
      return;
    }
    if (isConnectionError(error) || (error as { code?: string })?.code === '57014') {
      // 57014: statement timeout. Either way the database cannot answer right now.
      logger.warn({ path: req.path, err: maskUrlsInText(errorMessage(error)) }, 'database unavailable for a read');
      res.status(503).json({ error: 'database unavailable' });
      return;
    }
    logger.error({ path: req.path, err: maskUrlsInText(errorMessage(error)) }, 'read API request failed');
    if (!res.headersSent) res.status(500).json({ error: 'internal error' });
  };
}

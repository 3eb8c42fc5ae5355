import { Cluster, type Redis } from 'ioredis';
import type { Sql } from '@tickvault/db';
import { ServiceProcess, repoPath } from '@tickvault/testing';
import {
  CpuAccount, enqueue, failedJobs, log, metricValue, record, resetState, scrape, serviceEnv, sleep, startWriters, symbolsOf, ticksAt, toJobs, waitQueueDrained, waitUntil, type BenchContext,
} from '../lib.js';

export interface CapacityOptions {
  ticks: number;
  perJob: number;
  symbols: number;
  /** Trades per second the fake Binance sends over all symbols for the ingest phase. */
  ingestRate: number;
  /** Seconds the ingest phase is measured for. */
  ingestSeconds: number;
}

/**
 * The per-tick costs the capacity model in docs/running-beyond-one-machine.md is built from: CPU time
 * of the writer, of the writer's own Postgres backends (and of Postgres as a whole) and of Redis; Redis
 * commands, network bytes and memory per tick; WAL and bytes on disk per tick and per candle.
 *
 * Costs are CPU seconds, not rates, so they hold on a busy machine far better than a throughput does
 * (contention still adds some: cache misses, context switches). The backlog is queued while the
 * queue is paused and the writer already running, so neither the writer's start-up nor the
 * producer's work is in the drain's figures.
 */
export async function capacity(ctx: BenchContext, o: CapacityOptions): Promise<void> {
  const symbols = symbolsOf(o.symbols);
  const startMs = Date.now() - 3 * 3_600_000;
  // A trade every ~0.5 s per symbol at the default sizes: 1m candles of about 100 trades, as on a busy pair.
  const stepMs = Math.max(1, Math.floor((2 * 3_600_000) / o.ticks));
  const jobs = toJobs(ticksAt(0, o.ticks, { symbols, startMs, stepMs }), o.perJob);
  log(`capacity: ${o.ticks} ticks, ${o.perJob} per job, ${o.symbols} symbols`);
  // Its Redis figures are one server's CPU (by pid), commands and memory: a cluster spreads them over several.
  if (ctx.redis instanceof Cluster) throw new Error('the capacity scenario measures one Redis server: run it without REDIS_CLUSTER_NODES');
  const redis: Redis = ctx.redis;
  await resetState(ctx);
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);

  const writers = await startWriters(ctx, 1);
  try {
    await ctx.queue.pause();
    const memoryBefore = await usedMemory(redis);
    const producerStats = await redisStats(redis);
    const producerCpu = new CpuAccount(() => ({ bench: [process.pid], redis: [redisPid] }));
    await enqueue(ctx.queue, jobs);
    const produced = producerCpu.stop();
    const producedStats = await redisStats(redis);
    const memoryQueued = (await usedMemory(redis)) - memoryBefore;

    const backends = async () => (await ctx.sql<{ pid: number }[]>`select pid from pg_stat_activity where application_name = 'tickvault-writer'`).map((r) => r.pid);
    const walBefore = await walLsn(ctx.sql);
    const drainStats = await redisStats(redis);
    // Backends connected before the drain are counted from here; ones that connect during it from their start.
    let backendPids: number[] = await backends();
    const cpu = new CpuAccount(() => ({ writer: writers.procs.map((p) => p.pid), 'writer backends': backendPids, redis: [redisPid], bench: [process.pid] }));
    await ctx.queue.resume();
    await waitQueueDrained(ctx.queue, 50);
    backendPids = [...new Set([...backendPids, ...(await backends())])];
    const drained = cpu.stop();
    const drainedStats = await redisStats(redis);
    const wal = (await walLsn(ctx.sql)) - walBefore;
    if ((await failedJobs(ctx.queue)) > 0) throw new Error('capacity: jobs failed');

    const [stored] = await ctx.sql<{ ticks: number; candles: number; tickBytes: number; candleBytes: number }[]>`
      select (select count(*)::int from tick_rows) as ticks,
             (select count(*)::int from candles) as candles,
             (select sum(pg_total_relation_size(relid))::float8 from pg_partition_tree('tick_rows')) as "tickBytes",
             pg_total_relation_size('candles')::float8 as "candleBytes"`;
    if (stored!.ticks !== o.ticks) throw new Error(`capacity: stored ${stored!.ticks} of ${o.ticks} ticks`);

    const perTick = (seconds: number | undefined) => ((seconds ?? 0) / o.ticks) * 1e6;
    const part = drained.byPart;
    const add = (metric: string, value: number | string, unit: string, note?: string) => record(ctx, { scenario: 'capacity', metric, value, unit, ...(note ? { note } : {}) });
    add('writer CPU per tick', perTick(part.writer), 'µs', `${(o.ticks / (part.writer ?? 1)).toFixed(0)} ticks per writer CPU-second`);
    add('writer\'s Postgres backends CPU per tick', perTick(part['writer backends']), 'µs', `${(o.ticks / (part['writer backends'] ?? 1)).toFixed(0)} ticks per backend CPU-second`);
    add('all Postgres processes CPU per tick', perTick(part.postgres === undefined ? part['writer backends'] : part.postgres + (part['writer backends'] ?? 0)), 'µs', 'backends + WAL writer, checkpointer, …; on a shared server others\' work is in it');
    add('Redis CPU per tick while draining', perTick(part.redis), 'µs', 'fetching and completing jobs');
    add('Redis CPU per tick while queueing', perTick(produced.byPart.redis), 'µs', 'adding jobs in bulk');
    add('Redis commands per tick (queue + drain)', (producedStats.commands - producerStats.commands + drainedStats.commands - drainStats.commands) / o.ticks, '', `${o.perJob} ticks per job; scripts count each command they call`);
    add('Redis network bytes in per tick (queue + drain)', (producedStats.netIn - producerStats.netIn + drainedStats.netIn - drainStats.netIn) / o.ticks, 'B');
    add('Redis memory per waiting tick', memoryQueued / o.ticks, 'B', `${o.ticks} ticks queued, used_memory delta`);
    add('WAL per tick', wal / o.ticks, 'B', 'cluster-wide WAL: other databases\' writes are in it');
    add('disk per stored tick (table + indexes)', stored!.tickBytes / o.ticks, 'B', 'tick_rows partitions');
    add('disk per stored candle (table + indexes)', stored!.candleBytes / stored!.candles, 'B', `${stored!.candles} candles over 6 timeframes`);
    add('candles per tick', stored!.candles / o.ticks, '', 'depends on the trade rate per symbol');
  } finally {
    await ctx.queue.resume().catch(() => {});
    await writers.stop();
  }
  await resetState(ctx);
  await ingestCost(ctx, o);
  await resetState(ctx);
}

/**
 * The ingest service's CPU per tick: the real ingest-crypto on the fake Binance WebSocket (the
 * provider's wire format, JSON per trade) at a steady rate, its ticks stored by a real writer.
 * Counted over a window in steady state: the ingest process's CPU against the ticks committed meanwhile.
 */
async function ingestCost(ctx: BenchContext, o: CapacityOptions): Promise<void> {
  const symbols = symbolsOf(o.symbols, 'C').map((s) => s.replace('/', ''));
  log(`capacity: ingest-crypto at ${o.ingestRate} trades/s over ${symbols.length} Binance symbols`);
  const fake = new ServiceProcess(repoPath('tools/bench/src/fake-binance.ts'), {
    FAKE_SYMBOLS: symbols.join(','),
    // Little history: the tape is generated up front and only the live stream is measured.
    FAKE_HISTORY_MS: '60000',
    FAKE_TRADES_PER_SECOND: String(o.ingestRate / symbols.length),
  });
  const procs: ServiceProcess[] = [fake];
  let writers: Awaited<ReturnType<typeof startWriters>> | undefined;
  try {
    const ready = await fake.waitForLog((l) => l.msg === 'fake binance ready', 120_000);
    writers = await startWriters(ctx, 1);
    const ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...serviceEnv(ctx, { LOG_LEVEL: 'info' }),
      CRYPTO_SOURCES: 'binance',
      CRYPTO_SYMBOLS: symbols.map((s) => `${s.slice(0, -4)}/USDT`).join(','),
      BINANCE_WS_URL: ready.wsUrl as string,
      BINANCE_REST_URL: ready.restUrl as string,
    });
    procs.push(ingest);
    const started = await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 60_000);
    const received = async () => metricValue(await scrape(started.healthPort as number), 'tickvault_ticks_received_total');
    // Steady state: the first live trades are stored and the start-up is over.
    await waitUntil(async () => (await ctx.sql<{ n: number }[]>`select count(*)::int as n from tick_rows`)[0]!.n > 0, 100, 120_000, 'first ingested ticks stored');
    await sleep(3000);
    // A window of time, not of ticks: a starved fake or ingest bursts to catch up, and a short window would hold only the burst.
    const before = await received();
    const cpu = new CpuAccount(() => ({ ingest: [ingest.pid], writer: writers!.procs.map((p) => p.pid), fake: [fake.pid], bench: [process.pid] }));
    await sleep(o.ingestSeconds * 1000);
    const used = cpu.stop();
    const ticks = (await received()) - before;
    record(ctx, {
      scenario: 'capacity', metric: 'ingest-crypto CPU per tick (Binance WebSocket)', value: ((used.byPart.ingest ?? 0) / ticks) * 1e6, unit: 'µs',
      note: `${ticks} ticks received in ${o.ingestSeconds} s; writer ${(((used.byPart.writer ?? 0) / ticks) * 1e6).toFixed(1)} µs per tick at this rate; fake ${(((used.byPart.fake ?? 0) / ticks) * 1e6).toFixed(1)}`,
    });
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await writers?.stop();
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  // Let lazy frees and client buffers settle between two reads that agree.
  let previous = -1;
  let current = 0;
  await waitUntil(async () => {
    previous = current;
    current = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    return previous === current;
  }, 200, 10_000, 'Redis memory steady').catch(() => {});
  return current;
}

async function redisStats(redis: Redis): Promise<{ commands: number; netIn: number }> {
  const stats = await redis.info('stats');
  return {
    commands: Number(/total_commands_processed:(\d+)/.exec(stats)?.[1]),
    netIn: Number(/total_net_input_bytes:(\d+)/.exec(stats)?.[1]),
  };
}

async function walLsn(sql: Sql): Promise<number> {
  const [row] = await sql<{ bytes: string }[]>`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text as bytes`;
  return Number(row!.bytes);
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_NAMES, liveChannel, QUEUE_NAMES, type LiveUpdate, type TickBatchJob } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, syntheticTicks, TcpProxy, toJobs,
  type TestDatabase, type TestRedis,
} from '@tickvault/testing';

const WRITER = repoPath('apps/writer/src/main.ts');
const HOUR = 3_600_000;

describe('writer (real process, real Redis and Postgres)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let pgProxy: TcpProxy;
  let queue: Queue<TickBatchJob>;
  let connection: Redis;
  let writer: ServiceProcess;

  function startWriter(): ServiceProcess {
    return new ServiceProcess(WRITER, {
      DATABASE_URL: pgProxy.rewrite(db.url),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      // Short locks so jobs of a killed writer come back within seconds rather than 30 s.
      WRITER_LOCK_DURATION_MS: '3000',
      LOG_LEVEL: 'info',
    });
  }

  async function healthPort(process: ServiceProcess): Promise<number> {
    const started = await process.waitForLog((l) => l.msg === 'writer started');
    return started.healthPort as number;
  }

  async function countTicks(where = 'true'): Promise<number> {
    const [row] = await db.sql.unsafe(`select count(*)::int as n from ticks where ${where}`);
    return row!.n as number;
  }

  async function queueIdle(): Promise<boolean> {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).every((n) => n === 0);
  }

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    pgProxy = TcpProxy.forUrl(db.url);
    await pgProxy.start();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    writer = startWriter();
    await healthPort(writer);
  });

  afterAll(async () => {
    await writer?.stop();
    await queue?.close();
    connection?.disconnect();
    await pgProxy?.cut();
    await redis?.cleanup();
    await db?.drop();
  });

  it('stores the valid ticks of a job and records the malformed one with its reason', async () => {
    const now = Date.now();
    const good = syntheticTicks({ count: 3, symbols: ['BTC/USDT'], startMs: now - HOUR, source: 'mixed' });
    const job = await queue.add(JOB_NAMES.tickBatch, {
      v: 1,
      producer: 'test',
      ticks: [good[0], { ...good[1], price: '-5' }, good[2], { hello: 'world' }],
      rejected: [],
    });
    await eventually(async () => (await job.getState()) === 'completed', 'job completion');
    expect(await countTicks(`source = 'mixed'`)).toBe(2);
    const rejected = await db.sql`select reason, detail, position, origin from rejected_ticks where job_key = ${`ticks:${job.id}@${job.timestamp}`} order by position`;
    expect(rejected.map((r) => [r.position, r.reason, r.origin])).toEqual([
      [1, 'invalid_price', 'writer'],
      [3, 'malformed', 'writer'],
    ]);
    expect(rejected[0]!.detail).toContain('price');
  });

  it('fails a job whose envelope can never be valid without retrying it', async () => {
    const job = await queue.add(JOB_NAMES.tickBatch, { v: 99, producer: 'test', ticks: [] } as unknown as TickBatchJob);
    await eventually(async () => (await job.getState()) === 'failed', 'job failure');
    const failed = await queue.getJob(job.id!);
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.failedReason).toContain('contract');
    const [event] = await db.sql`select kind from system_events where kind = 'job_unprocessable'`;
    expect(event).toBeDefined();
  });

  it('publishes the candles it changed after each commit', async () => {
    const subscriber = new Redis(redis.url);
    const updates: LiveUpdate[] = [];
    await subscriber.subscribe(liveChannel(redis.prefix));
    subscriber.on('message', (_channel, message) => updates.push(JSON.parse(message) as LiveUpdate));
    const ticks = syntheticTicks({ count: 10, symbols: ['BTC/USDT'], startMs: Date.now() - HOUR, source: 'live' });
    await queue.add(JOB_NAMES.tickBatch, toJobs(ticks, 10)[0]!);
    await eventually(() => updates.some((u) => u.candles.some((c) => c.source === 'live')), 'live update');
    const candles = updates.flatMap((u) => u.candles).filter((c) => c.source === 'live');
    expect(candles.map((c) => c.timeframe).sort()).toEqual(['15m', '1d', '1h', '1m', '4h', '5m']);
    expect(candles.find((c) => c.timeframe === '1d')).toMatchObject({ symbol: 'BTC/USDT', tradeCount: 10, close: ticks[9]!.price });
    subscriber.disconnect();
  });

  it('changes nothing when a batch is delivered twice', async () => {
    const ticks = syntheticTicks({ count: 400, symbols: ['ETH/USDT', 'SOL/USDT'], startMs: Date.now() - 2 * HOUR, source: 'redeliver' });
    const first = await queue.add(JOB_NAMES.tickBatch, toJobs(ticks, 400)[0]!);
    await eventually(async () => (await first.getState()) === 'completed', 'first delivery');
    const candlesBefore = await db.sql`select * from candles where source = 'redeliver' order by symbol, timeframe, open_time`;
    const second = await queue.add(JOB_NAMES.tickBatch, toJobs(ticks, 400)[0]!);
    await eventually(async () => (await second.getState()) === 'completed', 'second delivery');
    expect(await countTicks(`source = 'redeliver'`)).toBe(400);
    const candlesAfter = await db.sql`select * from candles where source = 'redeliver' order by symbol, timeframe, open_time`;
    expect(candlesAfter).toEqual(candlesBefore);
  });

  it('loses and duplicates nothing when SIGKILLed mid-batch and restarted', async () => {
    const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT'];
    const ledger = syntheticTicks({ count: 60_000, symbols, startMs: Date.now() - 6 * HOUR, stepMs: 250, source: 'killtest' });
    await queue.addBulk(toJobs(ledger, 500).map((data) => ({ name: JOB_NAMES.tickBatch, data })));
    await eventually(async () => (await countTicks(`source = 'killtest'`)) > 0, 'first commits', 30_000, 20);
    writer.kill('SIGKILL');
    await writer.exited;
    const stored = await countTicks(`source = 'killtest'`);
    expect(stored).toBeLessThan(ledger.length); // killed mid-way, not after the end

    writer = startWriter();
    await healthPort(writer);
    await eventually(async () => (await queueIdle()) && (await countTicks(`source = 'killtest'`)) === ledger.length, 'all ticks after restart', 60_000, 200);

    const [totals] = await db.sql`
      select count(*)::int as n, count(distinct (symbol, ts, trade_id))::int as distinct_keys, sum(size)::text as volume
      from ticks where source = 'killtest'`;
    const ledgerVolume = ledger.reduce((sum, t) => sum + Math.round(Number(t.size) * 10000), 0) / 10000;
    expect(totals!.n).toBe(ledger.length);
    expect(totals!.distinct_keys).toBe(ledger.length);
    expect(Number(totals!.volume)).toBeCloseTo(ledgerVolume, 4);
    const [candleVolume] = await db.sql`select sum(volume)::text as v from candles where source = 'killtest' and timeframe = '1m'`;
    expect(Number(candleVolume!.v)).toBeCloseTo(ledgerVolume, 4);
    const verify = await verifyCandles(db.sql, { from: new Date(Date.now() - 7 * HOUR), to: new Date(Date.now() + HOUR), source: 'killtest' });
    expect(verify.checked).toBeGreaterThan(0);
    expect(verify.mismatches).toEqual([]);
    const failed = await queue.getJobCounts('failed');
    expect(failed.failed).toBe(1); // only the unprocessable job of the earlier test
  });

  it('keeps jobs queued through a Postgres outage, reports not-ready, and stores everything after', async () => {
    const port = await healthPort(writer);
    const readiness = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    expect(await readiness()).toBe(200);

    await pgProxy.cut();
    const ledger = syntheticTicks({ count: 5_000, symbols: ['BTC/USDT'], startMs: Date.now() - 3 * HOUR, stepMs: 100, source: 'outage' });
    await queue.addBulk(toJobs(ledger, 250).map((data) => ({ name: JOB_NAMES.tickBatch, data })));
    await eventually(async () => (await readiness()) === 503, 'writer not ready during outage', 30_000, 200);
    // Nothing is lost into the failed set while Postgres is away.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await queue.getJobCounts('failed')).failed).toBe(1);

    await pgProxy.restore();
    await eventually(async () => (await countTicks(`source = 'outage'`)) === ledger.length, 'ticks after recovery', 60_000, 200);
    await eventually(async () => (await readiness()) === 200, 'ready again', 30_000, 200);
    expect((await queue.getJobCounts('failed')).failed).toBe(1);
    const [recovered] = await db.sql`select details from system_events where kind = 'postgres_recovered'`;
    expect(recovered).toBeDefined();
  });

  it('exposes Prometheus metrics: writes, rejections, flushes, lag, queue depths and Redis memory', async () => {
    const port = await healthPort(writer);
    // This writer process was restarted above: give it one duplicate and one bad tick of its own.
    const ticks = syntheticTicks({ count: 5, symbols: ['BTC/USDT'], startMs: Date.now() - HOUR, source: 'metrics' });
    for (const data of [toJobs(ticks, 5)[0]!, { ...toJobs(ticks, 5)[0]!, ticks: [...ticks, { ...ticks[0]!, price: '-1' }] }]) {
      const job = await queue.add(JOB_NAMES.tickBatch, data);
      await eventually(async () => (await job.getState()) === 'completed', 'metrics job');
    }
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // The value of the first sample named `name` carrying all `labels`, in any label order.
    const sample = (name: string, labels: Record<string, string> = {}) => {
      const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(sample('tickvault_ticks_written_total')).toBeGreaterThan(0);
    expect(sample('tickvault_ticks_duplicate_total')).toBeGreaterThanOrEqual(5);
    expect(sample('tickvault_ticks_rejected_total', { source: 'metrics', reason: 'invalid_price', stage: 'writer' })).toBe(1);
    expect(sample('tickvault_flush_duration_seconds_count', { outcome: 'committed' })).toBeGreaterThan(0);
    expect(sample('tickvault_write_lag_seconds_count')).toBeGreaterThan(0);
    expect(sample('tickvault_batch_size_ticks_count')).toBeGreaterThan(0);
    expect(sample('tickvault_queue_jobs', { queue: 'ticks', state: 'failed' })).toBe(1);
    expect(sample('tickvault_redis_memory_used_bytes')).toBeGreaterThan(0);
    expect(body).toMatch(/^process_resident_memory_bytes/m);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const result = await writer.stop();
    expect(result.code).toBe(0);
    expect(writer.lines.some((l) => l.msg === 'stopped' && l.exitCode === 0)).toBe(true);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES, type SystemEvent, type TickBatchJob } from '@tickvault/schema';
import { createTestRedis, eventually, repoPath, ServiceProcess, TcpProxy, type TestRedis } from '@tickvault/testing';
import { createSimSource, type Observation } from '@tickvault/sources';

const SIM_SEED = 42;
const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];

describe('ingest-crypto (real process, real Redis)', () => {
  let redis: TestRedis;
  let proxy: TcpProxy;
  let connection: Redis;
  let ticks: Queue<TickBatchJob>;
  let events: Queue<SystemEvent>;
  let ingest: ServiceProcess;
  let port: number;

  const queuedTicks = async () => {
    const jobs = await ticks.getJobs(['waiting'], 0, -1);
    return jobs.reduce((n, job) => n + job.data.ticks.length, 0);
  };
  const readiness = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;

  beforeAll(async () => {
    redis = await createTestRedis();
    proxy = TcpProxy.forUrl(redis.url);
    await proxy.start();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    ticks = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
    events = new Queue(QUEUE_NAMES.events, { connection, prefix: redis.prefix });
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      REDIS_URL: proxy.rewrite(redis.url),
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      CRYPTO_SOURCES: 'sim',
      SIM_SEED: String(SIM_SEED),
      CRYPTO_SYMBOLS: SYMBOLS.join(','),
      INGEST_FLUSH_MS: '100',
    });
    port = (await ingest.waitForLog((l) => l.msg === 'ingest-crypto started')).healthPort as number;
  });

  afterAll(async () => {
    await ingest?.stop();
    await ticks?.close();
    await events?.close();
    connection?.disconnect();
    await proxy?.cut();
    await redis?.cleanup();
  });

  it('queues validated, normalized ticks in micro-batches and a startup event', async () => {
    await eventually(async () => (await queuedTicks()) > 5, 'ticks in the queue', 20_000);
    const [job] = await ticks.getJobs(['waiting'], 0, 0);
    expect(job!.data).toMatchObject({ v: 1, producer: expect.stringMatching(/^ingest-crypto@/) });
    expect(job!.data.ticks[0]).toMatchObject({ source: 'sim', assetClass: 'crypto', symbol: expect.stringMatching(/^(BTC|ETH)\/USDT$/) });
    const [startup] = await events.getJobs(['waiting'], 0, 0);
    expect(startup!.data).toMatchObject({ service: 'ingest-crypto', kind: 'startup' });
    expect(JSON.stringify(startup!.data)).not.toMatch(/password/i);
  });

  it('buffers through a Redis outage, reports not-ready, and queues everything after', async () => {
    // The sim's trades are a function of seed and time: what it made while Redis was away is known.
    const sim = createSimSource({ assetClass: 'crypto', seed: SIM_SEED });
    const madeBetween = async (from: number, to: number) => {
      const made: Observation[] = [];
      for (const symbol of SYMBOLS) for await (const page of sim.history({ symbol, from: new Date(from), to: new Date(to) })) made.push(...page);
      return made;
    };
    expect(await readiness()).toBe(200);
    const cutAt = Date.now();
    await proxy.cut();
    await eventually(async () => (await readiness()) === 503, 'not ready while Redis is away', 20_000, 200);
    await ingest.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('Redis unreachable'), 20_000);
    const before = await queuedTicks();
    // Away until the sim has made a few trades while Redis was unreachable.
    await eventually(async () => (await madeBetween(cutAt, Date.now() - 500)).length >= 3, 'trades made during the outage', 60_000, 200);
    const restoreAt = Date.now();
    await proxy.restore();
    await eventually(async () => (await readiness()) === 200, 'ready again', 30_000, 200);
    await eventually(async () => (await events.getJobs(['waiting'], 0, -1)).some((j) => j.data.kind === 'redis_outage'), 'outage event', 20_000);
    await eventually(async () => (await queuedTicks()) > before, 'ticks after recovery', 20_000);
    // The trades of the outage were held and then queued: every one the sim made while Redis was away.
    const outage = await madeBetween(cutAt, restoreAt);
    expect(outage.length).toBeGreaterThanOrEqual(3);
    const missingNow = async () => {
      const queued = new Set((await ticks.getJobs(['waiting'], 0, -1)).flatMap((j) => (j.data.ticks as { symbol: string; tradeId: string }[]).map((t) => `${t.symbol}|${t.tradeId}`)));
      return outage.filter((o) => !queued.has(`${o.symbol}|${o.tradeId}`));
    };
    await eventually(async () => (await missingNow()).length === 0, 'every outage trade queued', 30_000, 250).catch(() => undefined);
    expect(await missingNow()).toEqual([]);
  });

  it('exposes ingest metrics', async () => {
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(body).toMatch(/^tickvault_ticks_received_total\{.*source="sim".*\} [1-9]\d*$/m);
    expect(body).toMatch(/^tickvault_ticks_validated_total\{.*source="sim".*\} [1-9]\d*$/m);
    expect(body).toMatch(/^tickvault_ingest_buffered_ticks\{service="ingest-crypto"\} \d+$/m);
    expect(body).toMatch(/^tickvault_ingest_buffered_bytes\{service="ingest-crypto"\} \d+$/m);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const result = await ingest.stop();
    expect(result.code).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES, type SystemEvent, type TickBatchJob } from '@tickvault/schema';
import { createTestRedis, eventually, repoPath, ServiceProcess, TcpProxy, type TestRedis } from '@tickvault/testing';

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
      CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT',
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
    expect(await readiness()).toBe(200);
    await proxy.cut();
    await eventually(async () => (await readiness()) === 503, 'not ready while Redis is away', 20_000, 200);
    await ingest.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('Redis unreachable'), 20_000);
    const before = await queuedTicks();
    await new Promise((r) => setTimeout(r, 2000));
    await proxy.restore();
    await eventually(async () => (await readiness()) === 200, 'ready again', 30_000, 200);
    await eventually(async () => (await events.getJobs(['waiting'], 0, -1)).some((j) => j.data.kind === 'redis_outage'), 'outage event', 20_000);
    // The trades of the outage were held and then queued: no gap in the trade ids per symbol.
    await eventually(async () => (await queuedTicks()) > before, 'ticks after recovery', 20_000);
    const all = (await ticks.getJobs(['waiting'], 0, -1)).flatMap((j) => j.data.ticks as { symbol: string; tradeId: string; ts: string }[]);
    const btc = all.filter((t) => t.symbol === 'BTC/USDT').sort((a, b) => a.ts.localeCompare(b.ts));
    const outage = btc.filter((t) => Date.parse(t.ts) > Date.now() - 6000 && Date.parse(t.ts) < Date.now() - 3000);
    expect(outage.length).toBeGreaterThan(0);
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

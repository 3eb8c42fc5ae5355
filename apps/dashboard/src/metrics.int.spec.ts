import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@tickvault/db';
import { createTickQueues } from '@tickvault/queue';
import { JOB_NAMES } from '@tickvault/schema';
import { createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, syntheticTicks, TcpProxy, toJobs, type TestDatabase, type TestRedis } from '@tickvault/testing';

const DASHBOARD = repoPath('apps/dashboard/src/main.ts');
// Only bounds how long a hanging scrape may take to fail this test; nothing is timed.
const SCRAPE_GIVE_UP_MS = 30_000;

describe('dashboard /metrics while Redis does not answer (real process, real Redis through a proxy)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let proxy: TcpProxy;
  let dashboard: ServiceProcess;
  let healthUrl: string;

  const scrape = async () => {
    const res = await fetch(`${healthUrl}/metrics`, { signal: AbortSignal.timeout(SCRAPE_GIVE_UP_MS) });
    return { status: res.status, body: await res.text() };
  };
  const metric = (body: string, pattern: RegExp) => Number(pattern.exec(body)?.[1] ?? Number.NaN);
  const WAITING = /^tickvault_queue_jobs\{queue="ticks",state="waiting",service="dashboard"\} (\d+)$/m;
  const FAILURES = /^tickvault_dashboard_queue_depth_refresh_failures_total\{service="dashboard"\} (\d+)$/m;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    proxy = TcpProxy.forUrl(redis.url);
    await proxy.start();
    dashboard = new ServiceProcess(DASHBOARD, {
      DATABASE_URL: db.url,
      REDIS_URL: proxy.rewrite(redis.url),
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      DASHBOARD_PORT: '0',
      DASHBOARD_HOST: '127.0.0.1',
      DASHBOARD_AUTH: '',
      DASHBOARD_PASSWORD: 'metrics-test-password-5c2e9a',
      DASHBOARD_TOKEN: '',
      CRYPTO_SOURCES: 'sim',
      STOCK_SOURCES: '',
      MACRO_SOURCES: '',
      CRYPTO_SYMBOLS: 'BTC/USDT',
    });
    const started = await dashboard.waitForLog((l) => l.msg === 'dashboard started');
    healthUrl = `http://127.0.0.1:${started.healthPort as number}`;
  });

  afterAll(async () => {
    proxy?.resume();
    await dashboard?.stop();
    await proxy?.cut();
    await redis?.cleanup();
    await db?.drop();
  });

  it('answers with the last queue depths and says why, then reads fresh ones once Redis answers again', async () => {
    const before = await scrape();
    expect(before.status).toBe(200);
    expect(metric(before.body, WAITING)).toBe(0);

    // Three jobs wait in the real queue, then every byte between the dashboard and Redis stops.
    const [ticks] = createTickQueues(redis.redis, redis.prefix, 1);
    const jobs = toJobs(syntheticTicks({ count: 30, symbols: ['BTC/USDT'], startMs: Date.UTC(2024, 0, 2) }), 10);
    await ticks!.addBulk(jobs.map((data) => ({ name: JOB_NAMES.tickBatch, data })));
    proxy.pause();

    // Without a deadline this scrape waits on Redis for as long as the stall lasts.
    const during = await scrape();
    expect(during.status).toBe(200);
    expect(metric(during.body, WAITING), 'the last value read, not an invented one').toBe(0);
    expect(metric(during.body, FAILURES)).toBeGreaterThanOrEqual(1);
    expect(during.body).toContain('tickvault_dashboard_stream_clients');
    const warned = await dashboard.waitForLog((l) => l.msg === 'queue depths not refreshed for /metrics; serving the last values');
    expect(warned.err).toMatch(/queue depth refresh took longer than \d+ ms/);

    // A second scrape during the same stall answers too.
    expect((await scrape()).status).toBe(200);

    proxy.resume();
    await eventually(async () => metric((await scrape()).body, WAITING) === 3, 'the queued jobs counted after Redis answers again');
    await ticks!.close();
  });
});

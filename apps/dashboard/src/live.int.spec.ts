import net from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_NAMES, liveChannel, QUEUE_NAMES, type LiveCandle, type LiveUpdate, type TickBatchJob } from '@tickvault/schema';
import { migrate } from '@tickvault/db';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, syntheticTicks, toJobs, type TestDatabase, type TestRedis,
} from '@tickvault/testing';
import { basicAuth, SseClient } from './testing/sse-client.js';
import type { HubStats } from './live-hub.js';

const WRITER = repoPath('apps/writer/src/main.ts');
const DASHBOARD = repoPath('apps/dashboard/src/main.ts');
const PASSWORD = 'live-test-password';
const auth = basicAuth('admin', PASSWORD);

describe('live stream (real writer and dashboard processes)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let writer: ServiceProcess;
  let dashboard: ServiceProcess;
  let dashboardUrl: string;
  let connection: Redis;
  let queue: Queue<TickBatchJob>;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    const common = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0', LOG_LEVEL: 'info' };
    writer = new ServiceProcess(WRITER, common);
    // At normal priority: this test pushes 40 MB of events through the hub in a bounded time, and at the default
    // DASHBOARD_NICE a busy CI machine starves it (the priority itself is covered by cpu-priority.spec.ts).
    dashboard = new ServiceProcess(DASHBOARD, { ...common, DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PASSWORD: PASSWORD, DASHBOARD_AUTH: 'basic', DASHBOARD_NICE: '0' });
    await writer.waitForLog((l) => l.msg === 'writer started');
    const started = await dashboard.waitForLog((l) => l.msg === 'dashboard started');
    dashboardUrl = `http://127.0.0.1:${started.port as number}`;
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
  });

  afterAll(async () => {
    await Promise.all([writer?.stop(), dashboard?.stop()]);
    await queue?.close();
    connection?.disconnect();
    await redis?.cleanup();
    await db?.drop();
  });

  const stats = async (): Promise<HubStats> => (await (await fetch(`${dashboardUrl}/api/stream/stats`, { headers: auth })).json()) as HubStats;

  it('sends a client the candle of its series after the writer commits it', async () => {
    const client = new SseClient(`${dashboardUrl}/api/stream?series=ssetest:BTC/USDT&timeframe=1m`, auth);
    try {
      expect(await client.opened).toBe(200);
      await eventually(async () => (await stats()).clients === 1, 'stream registered', 5000);

      // All five in one minute bucket: the writer publishes the newest candle of each series it changed.
      const startMs = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000 + 1000;
      const ticks = syntheticTicks({ count: 5, symbols: ['BTC/USDT'], startMs, stepMs: 1000, source: 'ssetest' });
      const other = syntheticTicks({ count: 5, symbols: ['ETH/USDT'], startMs, stepMs: 1000, source: 'ssetest' });
      await queue.add(JOB_NAMES.tickBatch, toJobs([...ticks, ...other], 10)[0]!);

      await client.waitFor((c) => c.candles().length > 0, 'a candle event');
      const [candle] = client.candles<LiveCandle>();
      const bucket = new Date(Math.floor(Date.parse(ticks[0]!.ts) / 60_000) * 60_000).toISOString().replace('.000Z', 'Z');
      expect(candle).toMatchObject({ source: 'ssetest', symbol: 'BTC/USDT', timeframe: '1m', openTime: bucket, open: ticks[0]!.price, tradeCount: 5, close: ticks[4]!.price });
      // Only its series and timeframe.
      expect(client.candles<LiveCandle>().every((c) => c.symbol === 'BTC/USDT' && c.timeframe === '1m')).toBe(true);
    } finally {
      client.close();
      await eventually(async () => (await stats()).clients === 0, 'stream removed', 5000);
    }
  });

  it('keeps a client that never reads bounded, and other clients prompt', async () => {
    const before = (await stats()).clients;
    // A reader that sends its request and then never reads a byte: the kernel buffers fill, then the dashboard's.
    const stalled = net.connect(Number(new URL(dashboardUrl).port), '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.pause();
    stalled.write(
      `GET /api/stream?series=slow:BTC/USDT&timeframe=1m HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth.authorization}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    const reader = new SseClient(`${dashboardUrl}/api/stream?series=slow:BTC/USDT&timeframe=1m`, auth);
    expect(await reader.opened).toBe(200);
    await eventually(async () => (await stats()).clients === before + 2, 'both streams registered', 5000);

    // About 40 MB of events for each of the two clients, far more than the sockets' buffers hold.
    const updates = 2000;
    const perUpdate = 10;
    const padding = `1.${'0'.repeat(2000)}1`;
    const publisher = new Redis(redis.url);
    const channel = liveChannel(redis.prefix);
    const publishStarted = Date.now();
    let maxQueued = 0;
    let maxBuffered = 0;
    for (let u = 0; u < updates; u += 100) {
      const pipeline = publisher.pipeline();
      for (let k = u; k < u + 100; k++) {
        const candles: LiveCandle[] = Array.from({ length: perUpdate }, (_, j) => ({
          source: 'slow', symbol: 'BTC/USDT', timeframe: '1m', openTime: new Date(Date.UTC(2024, 0, 1) + (k * perUpdate + j) * 60_000).toISOString(),
          open: '1', high: '2', low: '0.5', close: '1.5', volume: padding, tradeCount: k * perUpdate + j,
        }));
        pipeline.publish(channel, JSON.stringify({ at: new Date().toISOString(), candles } satisfies LiveUpdate));
      }
      await pipeline.exec();
      const s = await stats();
      maxQueued = Math.max(maxQueued, s.maxQueuedEvents);
      maxBuffered = Math.max(maxBuffered, s.maxBufferedBytes);
    }
    const publishMs = Date.now() - publishStarted;
    publisher.disconnect();

    // The reading client gets every event, in order, soon after the last publish.
    const total = updates * perUpdate;
    await reader.waitFor((c) => c.candles().length === total, 'every event at the reading client', 20_000);
    const caughtUpMs = Date.now() - publishStarted;
    expect(reader.candles<LiveCandle>().map((c) => c.tradeCount)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(caughtUpMs - publishMs).toBeLessThan(10_000);

    // The stalled one cost at most 100 queued events and one socket buffer; the rest were dropped and counted.
    const final = await stats();
    maxQueued = Math.max(maxQueued, final.maxQueuedEvents);
    maxBuffered = Math.max(maxBuffered, final.maxBufferedBytes);
    expect(final.clients).toBe(before + 2);
    expect(maxQueued).toBeLessThanOrEqual(100);
    expect(final.maxQueuedEvents).toBe(100);
    // One socket buffer: the hub writes while the response is under its high-water mark (Node's default,
    // 16 KiB before Node 22 and 64 KiB since), so at most that and one event (plus its SSE framing).
    const oneEvent = Buffer.byteLength(JSON.stringify({ at: new Date().toISOString(), candles: Array.from({ length: perUpdate }, () => ({
      source: 'slow', symbol: 'BTC/USDT', timeframe: '1m', openTime: new Date().toISOString(), open: '1', high: '2', low: '0.5', close: '1.5', volume: padding, tradeCount: total,
    })) })) + 1024;
    expect(maxBuffered).toBeLessThan(getDefaultHighWaterMark(false) + oneEvent);
    expect(final.droppedEvents).toBeGreaterThan(total / 2);

    // The writer is unaffected: a tick job still commits and its candle reaches the reader.
    const ticks = syntheticTicks({ count: 3, symbols: ['BTC/USDT'], startMs: Date.now() - 5 * 60_000, source: 'slow' });
    const job = await queue.add(JOB_NAMES.tickBatch, toJobs(ticks, 3)[0]!);
    await eventually(async () => (await job.getState()) === 'completed', 'tick job committed', 10_000);
    await reader.waitFor((c) => c.candles<LiveCandle>().some((x) => x.tradeCount === 3 && x.volume !== padding), 'the committed candle', 10_000);

    stalled.destroy();
    reader.close();
    await eventually(async () => (await stats()).clients === before, 'streams removed on disconnect', 5000);
  });
});

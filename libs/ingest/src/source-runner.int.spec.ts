import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_NAMES, QUEUE_NAMES, type Tick, type TickBatchJob } from '@tickvault/schema';
import type { HistoryRequest, MarketSource, Observation } from '@tickvault/sources';
import { createTestRedis, eventually, type TestRedis } from '@tickvault/testing';
import { DeliveredProgress } from './delivered-progress.js';
import { Outbox, outboxLimits } from './outbox.js';
import { IngestPipeline } from './pipeline.js';
import { SourceRunner } from './source-runner.js';

const logger = pino({ level: 'silent' });
const SERVICE = 'ingest-test';

/** A source whose stream emits nothing until stopped and whose history is scripted per test. */
function scriptedSource(history: (request: HistoryRequest) => AsyncIterable<readonly Observation[]>) {
  const requests: HistoryRequest[] = [];
  const source: MarketSource = {
    id: 'scripted',
    assetClass: 'crypto',
    async stream(ctx) {
      ctx.onConnected?.();
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    },
    history(request) {
      requests.push(request);
      return history(request);
    },
  };
  return { source, requests };
}

const trade = (symbol: string, ts: string, tradeId: string): Observation => ({ symbol, ts, price: '100.5', size: '0.25', tradeId });

describe('SourceRunner takeover progress (real Redis)', () => {
  let redis: TestRedis;
  let connection: Redis;
  let ticks: Queue<TickBatchJob>;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    ticks = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
  });
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await ticks?.close();
    connection?.disconnect();
    await redis?.cleanup();
  });

  /** One replica's runner: a real pipeline and outbox into the real tick queue, delivery held until `gate` opens. */
  function replica(source: MarketSource, symbols: readonly string[], gate: Promise<void> = Promise.resolve()) {
    const delivered = new DeliveredProgress();
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => {
          await gate;
          await ticks.addBulk(jobs.map(({ id, data }) => ({ name: JOB_NAMES.tickBatch, data, opts: { jobId: id } })));
        },
        sendEvents: async () => {},
        onDelivered: (jobs) => delivered.record(jobs),
      },
      outboxLimits(10_000), logger, SERVICE,
    );
    const pipeline = new IngestPipeline({ service: SERVICE, assetClass: 'crypto', symbols, maxTicksPerJob: 500, flushMs: 20, maxFutureMs: 5_000, outbox, logger });
    const runner = new SourceRunner(source, pipeline, connection, { prefix: redis.prefix, service: SERVICE, logger, delivered });
    runner.start();
    cleanups.push(async () => { await runner.stop(); await outbox.close(Date.now() + 1000); });
    return { runner, delivered };
  }
  const progressKey = () => `${redis.prefix}:ingest-progress:${SERVICE}:scripted`;
  const queuedIds = async () => (await ticks.getJobs(['waiting'], 0, -1)).flatMap((job) => (job.data.ticks as Tick[]).map((t) => t.tradeId));

  it("records when a symbol's first owner took it, so a successor replays from there although no progress was ever saved", async () => {
    const before = new Date().toISOString();
    const first = scriptedSource(async function* () {});
    const owner = replica(first.source, ['NEW/USD']);
    owner.runner.setSymbols(['NEW/USD'], ['NEW/USD']);
    await eventually(async () => (await connection.hget(progressKey(), 'NEW/USD')) !== null, 'first owner recorded', 10_000, 20);
    const takenAt = (await connection.hget(progressKey(), 'NEW/USD'))!;
    expect(takenAt >= before && takenAt <= new Date().toISOString()).toBe(true);
    // Nothing to replay for a symbol nobody held before.
    expect(first.requests).toEqual([]);

    // The owner dies before delivering anything or saving progress; its successor replays from the moment it took over.
    const successor = scriptedSource(async function* ({ symbol }) {
      yield [trade(symbol, new Date(Date.parse(takenAt) + 1).toISOString(), 'missed-1')];
    });
    const next = replica(successor.source, ['NEW/USD']);
    next.runner.setSymbols(['NEW/USD'], ['NEW/USD']);
    await eventually(async () => (await queuedIds()).includes('missed-1'), 'the trade made between takeover and death queued', 10_000, 20);
    expect(successor.requests.map((r) => r.from.toISOString())).toEqual([takenAt]);
  });

  it("saves no progress for a symbol past a takeover replay whose data is not yet in Redis", async () => {
    const handedOver = '2026-12-06T10:00:00.000Z';
    await connection.hset(progressKey(), 'OLD/USD', handedOver);
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const source = scriptedSource(async function* ({ symbol }) {
      yield [trade(symbol, '2026-12-06T10:00:01.000Z', 'replayed-1')];
    });
    const { runner, delivered } = replica(source.source, ['OLD/USD'], gate);
    runner.setSymbols(['OLD/USD'], ['OLD/USD']);
    await eventually(() => source.requests.length === 1, 'replay started', 10_000, 20);
    // Live trades newer than the replay reach Redis first (as the restarted stream's would).
    const live = new Date().toISOString();
    delivered.record([{ v: 1, producer: 'live', ticks: [{ source: 'scripted', symbol: 'OLD/USD', assetClass: 'crypto', ts: live, price: '1', size: '1', tradeId: 'live-1' }], rejected: [] }]);
    await runner.saveProgress();
    expect(await connection.hget(progressKey(), 'OLD/USD')).toBe(handedOver);

    openGate();
    await eventually(async () => (await queuedIds()).includes('replayed-1'), 'replayed trade queued', 10_000, 20);
    // Once the replay's data is in Redis, progress moves on to the newest delivered tick.
    await eventually(async () => {
      await runner.saveProgress();
      return (await connection.hget(progressKey(), 'OLD/USD')) === live;
    }, 'progress moves on after the replay is delivered', 10_000, 20);
  });

  it('records the rows a takeover replay refuses, beside the trades it replays', async () => {
    await connection.hset(progressKey(), 'BAD/USD', '2026-12-06T11:00:00.000Z');
    const source = scriptedSource(async function* ({ symbol, reject }) {
      reject?.({ symbol, reason: 'invalid_trade_id', detail: 'trade id "x1" is no integer', sample: '{"id":"x1"}' });
      yield [trade(symbol, '2026-12-06T11:00:01.000Z', 'good-1')];
    });
    const { runner } = replica(source.source, ['BAD/USD']);
    runner.setSymbols(['BAD/USD'], ['BAD/USD']);
    await eventually(async () => (await queuedIds()).includes('good-1'), 'the valid replayed trade queued', 10_000, 20);
    await eventually(async () => (await ticks.getJobs(['waiting'], 0, -1)).some((job) => (job.data.rejected as { reason: string }[]).some((r) => r.reason === 'invalid_trade_id')), 'the refused row queued as a rejection', 10_000, 20);
    const rejected = (await ticks.getJobs(['waiting'], 0, -1)).flatMap((job) => job.data.rejected as { symbol: string | null; reason: string }[]);
    expect(rejected.every((r) => r.symbol === 'BAD/USD' || r.symbol === null)).toBe(true);
  });
});

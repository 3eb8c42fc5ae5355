import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { SystemEvent, TickBatchJob } from '@tickvault/schema';
import type { MarketSource } from '@tickvault/sources';
import { estimateJobBytes, Outbox, outboxLimits, type OutgoingJob } from './outbox.js';
import { IngestPipeline } from './pipeline.js';

const logger = pino({ level: 'silent' });
const job = (n: number, tag: string): TickBatchJob => ({ v: 1, producer: 'test', ticks: Array.from({ length: n }, (_, i) => `${tag}${i}`), rejected: [] });
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('Outbox', () => {
  it('keeps jobs while Redis refuses them and sends them, in order, once it accepts', async () => {
    let redisUp = false;
    const sent: string[] = [];
    const events: SystemEvent[] = [];
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => {
          if (!redisUp) throw new Error('Stream isn\'t writeable and enableOfflineQueue options is false');
          sent.push(...jobs.map((j) => String(j.data.ticks[0])));
        },
        sendEvents: async (e) => { if (!redisUp) throw new Error('down'); events.push(...e.map((x) => x.data)); },
      },
      outboxLimits(1000), logger, 'ingest-test',
    );
    outbox.pushTicks(job(10, 'a'));
    outbox.pushTicks(job(10, 'b'));
    await until(() => outbox.stats().sendFailures > 0);
    expect(outbox.healthy).toBe(false);
    expect(outbox.stats().bufferedTicks).toBe(20);
    redisUp = true;
    await until(() => sent.length === 2);
    expect(sent).toEqual(['a0', 'b0']);
    await until(() => events.some((e) => e.kind === 'redis_outage'));
    expect(outbox.healthy).toBe(true);
    await outbox.close(Date.now() + 100);
  });

  it('drops the oldest ticks beyond its bound, counts them and reports them on recovery', async () => {
    let redisUp = false;
    const sent: string[] = [];
    const events: SystemEvent[] = [];
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => { if (!redisUp) throw new Error('down'); sent.push(...jobs.map((j) => String(j.data.ticks[0]))); },
        sendEvents: async (e) => { if (!redisUp) throw new Error('down'); events.push(...e.map((x) => x.data)); },
      },
      { maxTicks: 25, maxBytes: 1e9 }, logger, 'ingest-test',
    );
    outbox.pushTicks(job(10, 'a'));
    outbox.pushTicks(job(10, 'b'));
    outbox.pushTicks(job(10, 'c'));
    expect(outbox.stats()).toMatchObject({ bufferedTicks: 20, droppedTicks: 10 });
    redisUp = true;
    await until(() => sent.length === 2);
    expect(sent).toEqual(['b0', 'c0']);
    await until(() => events.some((e) => e.details.droppedTicks === 10));
    await outbox.close(Date.now() + 100);
  });

  it('never loses a job that was in flight when the bound forced a drop, and keeps ids across resends', async () => {
    let release!: () => void;
    let attempts = 0;
    const ids: string[][] = [];
    const sent: string[] = [];
    const delivered: string[] = [];
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => {
          attempts++;
          ids.push(jobs.map((j) => j.id));
          if (attempts === 1) throw new Error('timeout (maybe it reached Redis)');
          if (attempts === 2) await new Promise<void>((r) => (release = r));
          sent.push(...jobs.map((j) => String(j.data.ticks[0])));
        },
        sendEvents: async () => {},
        onDelivered: (jobs) => delivered.push(...jobs.map((j) => String(j.ticks[0]))),
      },
      { maxTicks: 25, maxBytes: 1e9 }, logger, 'ingest-test',
    );
    outbox.pushTicks(job(10, 'a'));
    outbox.pushTicks(job(10, 'b'));
    await until(() => attempts === 2); // the retry is in flight now, holding a and b
    expect(ids[1]).toEqual(ids[0]); // a resend carries the same ids, so BullMQ can ignore a duplicate
    outbox.pushTicks(job(10, 'c'));
    outbox.pushTicks(job(10, 'd')); // over the bound: c (not in flight) is dropped, a and b are not
    release();
    await until(() => sent.length === 3);
    expect(sent).toEqual(['a0', 'b0', 'd0']);
    expect(delivered).toEqual(['a0', 'b0', 'd0']);
    expect(outbox.stats()).toMatchObject({ droppedTicks: 10, bufferedTicks: 0 });
    await outbox.close(Date.now() + 100);
  });

  describe('byte bound', () => {
    const binance = { id: 'binance' } as MarketSource;
    const symbols = ['BTC/USDT'];
    const trades = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({
        symbol: 'BTC/USDT', ts: new Date(Date.now() - 60_000).toISOString(), price: '60123.45', size: '0.00123', tradeId: String(from + i),
      }));
    const garbage = (i: number) => ({ symbol: null, reason: 'malformed' as const, detail: 'frame is not JSON: Unexpected token', sample: `${i}:`.padEnd(2000, '\u00ff') });
    const jsonBytes = (jobs: readonly OutgoingJob<TickBatchJob>[]) => jobs.reduce((n, j) => n + JSON.stringify(j.data).length, 0);

    function setup(limits: { maxTicks: number; maxBytes: number }) {
      const state = { redisUp: false, sent: [] as OutgoingJob<TickBatchJob>[], events: [] as SystemEvent[] };
      const outbox = new Outbox(
        {
          sendTicks: async (jobs) => { if (!state.redisUp) throw new Error('connect ECONNREFUSED'); state.sent.push(...jobs); },
          sendEvents: async (e) => { if (!state.redisUp) throw new Error('connect ECONNREFUSED'); state.events.push(...e.map((x) => x.data)); },
        },
        limits, logger, 'ingest-test',
      );
      const pipeline = new IngestPipeline({ service: 'ingest-test', assetClass: 'crypto', symbols, maxTicksPerJob: 500, flushMs: 60_000, maxFutureMs: 60_000, outbox, logger });
      return { state, outbox, pipeline };
    }

    it('estimates a job at about its length as JSON', () => {
      const { pipeline, outbox, state } = setup(outboxLimits(10_000));
      pipeline.accept(binance, trades(0, 500));
      pipeline.flush();
      for (let i = 0; i < 500; i++) pipeline.reject('binance', garbage(i));
      pipeline.flush();
      state.redisUp = true;
      return until(() => state.sent.length === 2).then(async () => {
        for (const job of state.sent) {
          const json = JSON.stringify(job.data).length;
          expect(estimateJobBytes(job.data)).toBeGreaterThan(json * 0.95);
          expect(estimateJobBytes(job.data)).toBeLessThan(json * 1.05);
        }
        await outbox.close(Date.now() + 100);
      });
    });

    it('a feed sending only rejections while Redis is down cannot grow the buffer past its bound, and the ticks buffered before it are kept', async () => {
      const limits = outboxLimits(10_000); // the smallest INGEST_BUFFER_MAX_TICKS: 2.56 MB
      const { state, outbox, pipeline } = setup(limits);
      pipeline.accept(binance, trades(1, 1000));
      pipeline.flush();
      await until(() => outbox.stats().sendFailures > 0);
      // About 11 MB of rejections with full samples (2,000 characters each), four times the bound.
      for (let i = 0; i < 5000; i++) pipeline.reject('binance', garbage(i));
      pipeline.flush();
      const during = outbox.stats();
      expect(during.bufferedBytes).toBeLessThanOrEqual(limits.maxBytes);
      expect(during).toMatchObject({ bufferedTicks: 1000, droppedTicks: 0 });
      expect(during.droppedRejections).toBeGreaterThan(0);

      state.redisUp = true;
      await until(() => outbox.stats().bufferedJobs === 0);
      const sentTicks = state.sent.flatMap((j) => j.data.ticks as { tradeId: string }[]).map((t) => Number(t.tradeId));
      expect(sentTicks).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(jsonBytes(state.sent)).toBeLessThanOrEqual(limits.maxBytes * 1.05);
      const sentRejections = state.sent.reduce((n, j) => n + (j.data.rejected?.length ?? 0), 0);
      expect(sentRejections + during.droppedRejections).toBe(5000);
      // The newest rejections are the ones kept.
      expect(state.sent.at(-1)!.data.rejected!.at(-1)!.sample.startsWith('4999:')).toBe(true);
      await until(() => state.events.some((e) => e.kind === 'redis_outage'));
      expect(state.events.find((e) => e.kind === 'redis_outage')!.details).toMatchObject({ droppedTicks: 0, droppedRejections: during.droppedRejections });
      await outbox.close(Date.now() + 100);
    });

    it('drops the oldest ticks, counted, once ticks alone exceed the byte bound', async () => {
      // Room for about three jobs of 100 ticks (~15 KB each as JSON), far below the tick bound.
      const { state, outbox, pipeline } = setup({ maxTicks: 1_000_000, maxBytes: 50_000 });
      for (let job = 0; job < 6; job++) {
        pipeline.accept(binance, trades(job * 100, 100));
        pipeline.flush();
      }
      const during = outbox.stats();
      expect(during.bufferedBytes).toBeLessThanOrEqual(50_000);
      expect(during.droppedTicks).toBe(600 - during.bufferedTicks);
      expect(during.droppedTicks).toBeGreaterThanOrEqual(300);
      state.redisUp = true;
      await until(() => outbox.stats().bufferedJobs === 0);
      const first = Number((state.sent[0]!.data.ticks[0] as { tradeId: string }).tradeId);
      expect(first).toBe(during.droppedTicks); // the oldest went, the newest stayed
      await until(() => state.events.some((e) => e.details.droppedTicks === during.droppedTicks));
      await outbox.close(Date.now() + 100);
    });
  });
});

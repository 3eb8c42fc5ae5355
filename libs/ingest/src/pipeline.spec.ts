import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { MAX_SAMPLE_CHARS, type TickBatchJob } from '@tickvault/schema';
import type { Outbox } from './outbox.js';
import { IngestPipeline } from './pipeline.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const logger = pino({ level: 'silent' });

describe('IngestPipeline rejections', () => {
  it('keeps its own copy of a sample, not the frame it was cut from', () => {
    const queued: TickBatchJob[] = [];
    const outbox = { pushTicks: (job: TickBatchJob) => queued.push(job) } as unknown as Outbox;
    const pipeline = new IngestPipeline({ service: 'ingest-test', assetClass: 'crypto', symbols: ['BTC/USDT'], maxTicksPerJob: 500, flushMs: 60_000, maxFutureMs: 60_000, outbox, logger });
    gc();
    const before = getHeapStatistics().used_heap_size;
    // 100 hostile frames of 1 MB each, every one rejected with a sample and detail cut from it (as sources do).
    for (let i = 0; i < 100; i++) {
      const frame = `{"e":"trade","junk":"${i}${'x'.repeat(1_000_000)}"}`;
      pipeline.reject('binance', { symbol: frame.slice(5, 45), reason: 'oversized', detail: frame.slice(0, 300), sample: frame.slice(0, 500) });
    }
    pipeline.flush();
    gc();
    const retained = getHeapStatistics().used_heap_size - before;
    expect(queued[0]!.rejected).toHaveLength(100);
    expect(queued[0]!.rejected![7]!.sample).toHaveLength(500);
    // What the rejections hold is ~100 × 850 characters; the frames were 100 MB. Sliced strings would keep them all.
    expect(retained).toBeLessThan(10_000_000);
  });

  it('cuts samples and details to what the rejected_ticks table stores', () => {
    const queued: TickBatchJob[] = [];
    const outbox = { pushTicks: (job: TickBatchJob) => queued.push(job) } as unknown as Outbox;
    const pipeline = new IngestPipeline({ service: 'ingest-test', assetClass: 'crypto', symbols: ['BTC/USDT'], maxTicksPerJob: 500, flushMs: 60_000, maxFutureMs: 60_000, outbox, logger });
    pipeline.reject('binance', { symbol: 'S'.repeat(100), reason: 'malformed', detail: 'd'.repeat(5000), sample: '\ud83d\ude00'.repeat(3000) });
    pipeline.reject('binance', { symbol: null, reason: 'malformed', detail: 'short', sample: '\ud800 lone surrogate' });
    pipeline.flush();
    const [first, second] = queued[0]!.rejected!;
    expect(first).toMatchObject({ symbol: 'S'.repeat(64), detail: 'd'.repeat(1000) });
    expect(first!.sample).toHaveLength(MAX_SAMPLE_CHARS);
    expect(second).toMatchObject({ symbol: null, detail: 'short', sample: '\ud800 lone surrogate' });
  });
});

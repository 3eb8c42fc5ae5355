import { describe, expect, it } from 'vitest';
import type { Tick } from '@tickvault/schema';
import { classifyDbError, type TickBatch, type WriteResult } from '@tickvault/db';
import { BatchFlusher, StuckWriteError } from './batch-flusher.js';

const tick = (tradeId: string): Tick => ({ source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts: '2026-01-01T00:00:00Z', price: '1', size: '1', tradeId });
const result = (batch: TickBatch): WriteResult => ({
  ticksCopied: 0, ticksReceived: batch.ticks.length, pointsChanged: 0, barsReceived: 0, barsWritten: 0, ticksInserted: batch.ticks.length, candlesWritten: 0, candlesCreated: 0,
  candleUpdatesPastRetention: 0, candlesTrimmed: 0, rejectionsRecorded: 0, latestCandles: [],
});

describe('BatchFlusher', () => {
  it('writes many jobs in one batch and resolves each only after the write', async () => {
    const writes: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      write: async (batch) => {
        await gate;
        writes.push(batch.ticks.map((t) => t.tradeId!));
        return result(batch);
      },
    });
    let settled = 0;
    const jobs = ['1', '2', '3'].map((id) => flusher.submit({ jobKey: id, ticks: [tick(id)], rejections: [] }).then(() => settled++));
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toBe(0); // the write has not committed yet
    release();
    await Promise.all(jobs);
    expect(writes).toEqual([['1', '2', '3']]);
  });

  it('flushes at once when the tick threshold is reached', async () => {
    const sizes: number[] = [];
    const flusher = new BatchFlusher({
      maxTicks: 2, maxWaitMs: 10_000, maxInFlight: 1, deadlineMs: 5000,
      write: async (batch) => { sizes.push(batch.ticks.length); return result(batch); },
    });
    await Promise.all([
      flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] }),
      flusher.submit({ jobKey: 'b', ticks: [tick('2')], rejections: [] }),
    ]);
    expect(sizes).toEqual([2]);
  });

  it('isolates a poisoned job: the others are stored, only it fails', async () => {
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      write: async (batch) => {
        if (batch.ticks.some((t) => t.tradeId === 'bad')) throw Object.assign(new Error('numeric field overflow'), { code: '22003' });
        return result(batch);
      },
    });
    const outcomes = await Promise.allSettled([
      flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] }),
      flusher.submit({ jobKey: 'b', ticks: [tick('bad')], rejections: [] }),
      flusher.submit({ jobKey: 'c', ticks: [tick('3')], rejections: [] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('fails every job of the batch on a connection error, without retrying them one by one', async () => {
    let calls = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      write: async () => { calls++; throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }); },
    });
    const outcomes = await Promise.allSettled([
      flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] }),
      flusher.submit({ jobKey: 'b', ticks: [tick('2')], rejections: [] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
  });

  it('drain writes what is waiting', async () => {
    let written = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 60_000, maxInFlight: 2, deadlineMs: 5000,
      write: async (batch) => { written += batch.ticks.length; return result(batch); },
    });
    const pending = flusher.submit({ jobKey: 'a', ticks: [tick('1'), tick('2')], rejections: [] });
    await flusher.drain();
    await pending;
    expect(written).toBe(2);
  });

  it('retries a deadlock at once without failing any job', async () => {
    let calls = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      write: async (batch) => {
        calls++;
        if (calls === 1) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        return result(batch);
      },
    });
    await flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] });
    expect(calls).toBe(2);
  });

  it('treats database-side failures that are not about the data as an outage: no job-by-job split', async () => {
    let calls = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      write: async () => { calls++; throw Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' }); },
    });
    const outcomes = await Promise.allSettled([
      flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] }),
      flusher.submit({ jobKey: 'b', ticks: [tick('2')], rejections: [] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
  });

  it('gives up on a write that never settles and reports it as an outage', async () => {
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 50,
      write: () => new Promise<never>(() => {}),
    });
    await expect(flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] })).rejects.toMatchObject({ code: 'CLIENT_DEADLINE' });
  });

  it('writes a batch stuck while the database answers job by job; the job stuck alone spends an attempt', async () => {
    const writes: string[][] = [];
    let probes = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      probe: async () => { probes++; return true; },
      write: async (batch) => {
        writes.push(batch.ticks.map((t) => t.tradeId!));
        if (batch.ticks.some((t) => t.tradeId === 'slow')) throw Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
        return result(batch);
      },
    });
    const outcomes = await Promise.allSettled([
      flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] }),
      flusher.submit({ jobKey: 'b', ticks: [tick('slow')], rejections: [] }),
      flusher.submit({ jobKey: 'c', ticks: [tick('3')], rejections: [] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const failure = (outcomes[1] as PromiseRejectedResult).reason;
    expect(failure).toBeInstanceOf(StuckWriteError);
    // Not an outage: the consumer lets it spend an attempt instead of requeueing it for free.
    expect(classifyDbError(failure)).toBe('data');
    expect(writes).toEqual([['1', 'slow', '3'], ['1'], ['slow'], ['3']]);
    expect(probes).toBe(2);
  });

  it('keeps a failure that is not about the data an outage when the probe fails', async () => {
    let calls = 0;
    const error = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      probe: async () => false,
      write: async () => { calls++; throw error; },
    });
    const outcomes = await Promise.allSettled([
      flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] }),
      flusher.submit({ jobKey: 'b', ticks: [tick('2')], rejections: [] }),
    ]);
    expect(outcomes.map((o) => (o as PromiseRejectedResult).reason)).toEqual([error, error]);
    expect(calls).toBe(1);
  });

  it('never probes after a dropped connection: that is an outage whatever the probe says', async () => {
    let probes = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 5000,
      probe: async () => { probes++; return true; },
      write: async () => { throw Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET' }); },
    });
    await expect(flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(probes).toBe(0);
  });

  it('stops the abandoned transaction when a flush passes its deadline, then treats it as stuck if the database answers', async () => {
    let overruns = 0;
    const flusher = new BatchFlusher({
      maxTicks: 100, maxWaitMs: 5, maxInFlight: 1, deadlineMs: 50,
      probe: async () => true,
      onOverrun: async () => { overruns++; },
      write: () => new Promise<never>(() => {}),
    });
    await expect(flusher.submit({ jobKey: 'a', ticks: [tick('1')], rejections: [] })).rejects.toBeInstanceOf(StuckWriteError);
    expect(overruns).toBe(1);
  });
});

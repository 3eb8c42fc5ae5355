import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Observation } from '../source.js';
import { Batcher } from './batcher.js';

const trade = (id: number): Observation => ({ symbol: 'BTC/USDT', ts: '2026-01-01T00:00:00Z', price: '1', size: '1', tradeId: String(id) });

describe('Batcher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('emits a full batch at once and the rest maxMs after its first trade', () => {
    vi.useFakeTimers();
    const batches: string[][] = [];
    const batcher = new Batcher((batch) => batches.push(batch.map((o) => o.tradeId!)), { maxMs: 50, maxTrades: 3 });
    for (let id = 1; id <= 4; id++) batcher.push(trade(id));
    expect(batches).toEqual([['1', '2', '3']]);
    vi.advanceTimersByTime(49);
    batcher.push(trade(5));
    expect(batches).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([['1', '2', '3'], ['4', '5']]);
  });

  it('flush sends what is buffered and nothing when empty', () => {
    const batches: Observation[][] = [];
    const batcher = new Batcher((batch) => batches.push(batch), { maxMs: 50, maxTrades: 500 });
    batcher.flush();
    batcher.push(trade(1));
    batcher.flush();
    batcher.flush();
    expect(batches).toHaveLength(1);
  });
});

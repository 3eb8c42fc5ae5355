import { describe, expect, it } from 'vitest';
import type { Observation, SourceRejection } from '../source.js';
import { TradeIdGaps, type IdGap } from './id-gaps.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const newGaps = (pageLimit = 3) => {
  const counts = { gaps: 0, trades: 0, gaveUp: 0 };
  return { counts, ids: new TradeIdGaps({ provider: 'Test', pageLimit, maxCatchUpTrades: 1000, restLagToleranceMs: 0, counts }) };
};
const us = (ms: number) => ms * 1000;

describe('TradeIdGaps', () => {
  it('owes everything after the last delivered id from a reconnect until the first live trade bounds it', () => {
    const { ids, counts } = newGaps();
    expect(ids.opened('BTC/USDT', quiet)).toBe(false); // never asked for, nothing delivered: nothing owed
    ids.live('BTC/USDT', 10, us(1_000), quiet);
    expect(ids.opened('BTC/USDT', quiet)).toBe(true);
    const gap = ids.next('BTC/USDT')!;
    expect(gap).toMatchObject({ from: 11, to: null, done: false, sinceTimeMs: 1_000 });
    expect(ids.owedSince('BTC/USDT')).toBe(1_000);
    expect(ids.live('BTC/USDT', 15, us(2_000), quiet)).toBe(false); // bounds the open gap, no new one
    expect(gap.to).toBe(14);
    expect(counts.gaps).toBe(1);
  });

  it('opens a gap on a jump in ids and catches a never-delivered symbol up by time', () => {
    const { ids } = newGaps();
    ids.live('ETH/USDT', 1, us(500), quiet);
    expect(ids.live('ETH/USDT', 5, us(600), quiet)).toBe(true);
    expect(ids.next('ETH/USDT')).toMatchObject({ from: 2, to: 4, sinceTimeMs: 500 });
    ids.state('SOL/USDT').wantedSince = 42_000;
    ids.opened('SOL/USDT', quiet);
    const byTime = ids.next('SOL/USDT')!;
    expect(Number.isNaN(byTime.from)).toBe(true);
    expect(byTime.fromTimeMs).toBe(42_000);
    expect(ids.owedSince('SOL/USDT')).toBe(42_000);
  });

  it('keeps pending gaps bounded: past 1000 the oldest waiting one is given up', () => {
    const { ids, counts } = newGaps();
    ids.live('BTC/USDT', 0, us(0), quiet);
    for (let i = 0; i < 1001; i++) ids.push('BTC/USDT', { from: i * 10, to: i * 10 + 5, done: false }, quiet);
    expect(ids.state('BTC/USDT').gaps).toHaveLength(1000);
    expect(counts.gaveUp).toBe(1);
    expect(ids.next('BTC/USDT')!.from).toBe(0); // the first (maybe in progress) stays
  });

  it('pages a gap by id up to its end, emits the valid rows, rejects the rest and records progress', async () => {
    const { ids, counts } = newGaps(3);
    ids.live('BTC/USDT', 100, us(1_000), quiet);
    const gap: IdGap = { from: 101, to: 107, done: false };
    ids.push('BTC/USDT', gap, quiet);
    const emitted: Observation[] = [];
    const rejected: SourceRejection[] = [];
    const asked: number[] = [];
    const row = (id: number) => ({ id, bad: id === 104 });
    await ids.fill(
      'BTC/USDT',
      gap,
      {
        fetch: async (fromId) => (asked.push(fromId), [0, 1, 2].map((i) => row(fromId + i))),
        idOf: (r) => r.id,
        check: (r) =>
          r.bad
            ? { ok: false, rejection: { symbol: 'BTC/USDT', reason: 'invalid_price', detail: 'bad', sample: String(r.id) } }
            : { ok: true, observation: { symbol: 'BTC/USDT', ts: '', price: '1', size: '1', tradeId: String(r.id) }, timeUs: us(2_000) },
      },
      { emit: (o) => emitted.push(...o), reject: (r) => rejected.push(r), logger: quiet, signal: new AbortController().signal },
    );
    expect(asked).toEqual([101, 104, 107]);
    expect(emitted.map((o) => o.tradeId)).toEqual(['101', '102', '103', '105', '106', '107']); // 108, 109 are past the gap
    expect(rejected.map((r) => r.sample)).toEqual(['104']);
    expect(gap.done).toBe(true);
    expect(counts.trades).toBe(6);
    expect(ids.state('BTC/USDT').lastId).toBe(107);
    expect(ids.owedSince('BTC/USDT')).toBeUndefined();
  });
});

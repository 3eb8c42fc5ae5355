import { describe, expect, it } from 'vitest';
import { bucketStartUs, compareDecimal, foldTrades, isoToMicros, type FoldTrade } from './trade-fold.js';

const trade = (ts: string, price: string, size: string, tradeId: string | null): FoldTrade => ({
  source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts, us: isoToMicros(ts), price, size, tradeId,
});

describe('trade fold', () => {
  it('reads timestamps to the microsecond', () => {
    expect(isoToMicros('2026-01-01T10:00:30.123456Z')).toBe(Date.parse('2026-01-01T10:00:30Z') * 1000 + 123456);
    expect(isoToMicros('2026-01-01T10:00:30.5Z')).toBe(Date.parse('2026-01-01T10:00:30Z') * 1000 + 500000);
    expect(isoToMicros('2026-01-01T10:00:30Z')).toBe(Date.parse('2026-01-01T10:00:30Z') * 1000);
  });

  it('compares decimals exactly, beyond double precision', () => {
    expect(compareDecimal('0.30000000000000000001', '0.3')).toBe(1);
    expect(compareDecimal('100.10', '100.1')).toBe(0);
    expect(compareDecimal('99.9', '100')).toBe(-1);
    expect(compareDecimal('12345678901234567890.1', '12345678901234567890.09')).toBe(1);
  });

  it('buckets like tv_bucket: fixed bins, Monday weeks, calendar months', () => {
    const at = (iso: string) => isoToMicros(iso);
    expect(new Date(bucketStartUs('4h', at('2026-03-02T15:59:59.999999Z')) / 1000).toISOString()).toBe('2026-03-02T12:00:00.000Z');
    expect(new Date(bucketStartUs('1w', at('2026-03-08T23:00:00Z')) / 1000).toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(new Date(bucketStartUs('1w', at('2026-03-09T00:00:00Z')) / 1000).toISOString()).toBe('2026-03-09T00:00:00.000Z');
    expect(new Date(bucketStartUs('1M', at('2026-02-28T23:59:59Z')) / 1000).toISOString()).toBe('2026-02-01T00:00:00.000Z');
  });

  it('sums volume exactly with the largest scale, orders same-instant trades by numeric id', () => {
    const candles = foldTrades([
      trade('2026-01-01T10:00:01Z', '100.10', '0.500', '100'),
      trade('2026-01-01T10:00:01Z', '101.5000', '0.00000000000000000001', '99'),
      trade('2026-01-01T10:00:59.999999Z', '99.9', '2', '3'),
      trade('2026-01-01T10:05:00Z', '98', '1', '4'),
    ]);
    const m1 = candles.filter((c) => c.timeframe === '1m');
    expect(m1.map((c) => [c.openTime, c.open, c.high, c.low, c.close, c.volume, c.tradeCount])).toEqual([
      ['2026-01-01T10:00:00.000Z', '101.5000', '101.5000', '99.9', '99.9', '2.50000000000000000001', 3],
      ['2026-01-01T10:05:00.000Z', '98', '98', '98', '98', '1', 1],
    ]);
    const h1 = candles.find((c) => c.timeframe === '1h')!;
    expect([h1.open, h1.close, h1.low, h1.volume, h1.tradeCount, h1.firstTradeId, h1.lastTradeId]).toEqual(
      ['101.5000', '98', '98', '3.50000000000000000001', 4, '99', '4'],
    );
    // 1m and 5m: two buckets each; 15m, 1h, 4h, 1d: one each.
    expect(candles).toHaveLength(8);
  });
});

describe('ExactSum', () => {
  it('adds exactly in doubles and past them, keeping the largest scale', async () => {
    const { ExactSum } = await import('./trade-fold.js');
    const sum = new ExactSum();
    for (const v of ['0.1', '0.2', '0.00000001', '3']) sum.add(v);
    expect(sum.toString()).toBe('3.30000001');
    const big = new ExactSum();
    for (const v of ['99999999999999999999.99999999999999999999', '0.00000000000000000001', '12345678901234.5']) big.add(v);
    expect(big.toString()).toBe('100000012345678901234.50000000000000000000');
    const many = new ExactSum();
    for (let i = 0; i < 1000; i++) many.add('9007199254740.991');
    expect(many.toString()).toBe('9007199254740991.000');
    const merged = new ExactSum();
    merged.add('1.5');
    const other = new ExactSum();
    other.add('0.25');
    merged.merge(other);
    merged.merge(many);
    expect(merged.toString()).toBe('9007199254740992.750');
    expect(new ExactSum().toString()).toBe('0');
  });
});

describe('compareDecimal', () => {
  it('agrees with exact comparison over many pairs', async () => {
    const { compareDecimal } = await import('./trade-fold.js');
    const values = ['0', '0.0', '0.00000001', '0.1', '0.10', '1', '1.0', '1.5', '1.05', '9.99', '10', '10.000', '99.999999999999999999', '100', '100.1', '12345678901234567890.1'];
    const exact = (v: string) => { const [i, f = ''] = v.split('.'); return BigInt(i! + f.padEnd(20, '0')); };
    for (const a of values) for (const b of values) {
      const want = exact(a) === exact(b) ? 0 : exact(a) < exact(b) ? -1 : 1;
      expect(compareDecimal(a, b), `${a} vs ${b}`).toBe(want);
    }
  });
});

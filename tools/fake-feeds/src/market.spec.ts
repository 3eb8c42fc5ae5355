import { describe, expect, it } from 'vitest';
import { pairLevel, stockLevel, TradeCounts } from './market.js';

const HOUR = 3600;
// 2026-03-02 13:59:00 UTC: the span below crosses an hour boundary.
const SECOND = Date.UTC(2026, 2, 2, 13, 59, 0) / 1000;

describe('the shared market', () => {
  it('prices a pair the same in every dollar stablecoin, and one share the same under either spelling', () => {
    for (let s = SECOND; s < SECOND + 3 * HOUR; s += 97) {
      expect(pairLevel('BTC', 'USDT', s)).toBe(pairLevel('BTC', 'USD', s));
      expect(pairLevel('ETH', 'USDC', s)).toBe(pairLevel('ETH', 'USD', s));
      expect(stockLevel('BRK-B', s)).toBe(stockLevel('BRK.B', s));
      // Crosses follow from the dollar prices.
      expect(pairLevel('ETH', 'BTC', s)).toBeCloseTo(pairLevel('ETH', 'USD', s) / pairLevel('BTC', 'USD', s), 12);
    }
  });

  it('keeps prices near the reference table, moving a few percent at most', () => {
    for (let s = SECOND; s < SECOND + 48 * HOUR; s += 601) {
      expect(pairLevel('BTC', 'USDT', s) / 100_000).toBeGreaterThan(0.97);
      expect(pairLevel('BTC', 'USDT', s) / 100_000).toBeLessThan(1.03);
      expect(stockLevel('SPY', s) / 600).toBeGreaterThan(0.98);
      expect(stockLevel('SPY', s) / 600).toBeLessThan(1.02);
    }
    // An instrument the table does not list gets one price wherever it is quoted.
    expect(pairLevel('ZZZ', 'USDT', SECOND)).toBe(pairLevel('ZZZ', 'USD', SECOND));
  });
});

describe('TradeCounts', () => {
  it('numbers trades consecutively across seconds and hours, from the time alone', () => {
    const counts = new TradeCounts(42, 'BTCUSDT', 5);
    let id = counts.firstIdAt(SECOND);
    let total = 0;
    for (let s = SECOND; s < SECOND + 2 * HOUR; s++) {
      expect(counts.firstIdAt(s)).toBe(id);
      id += counts.countAt(s);
      total += counts.countAt(s);
    }
    // r trades per second on average; every hour holds the same number.
    expect(total / (2 * HOUR)).toBeGreaterThan(4.5);
    expect(total / (2 * HOUR)).toBeLessThan(5.5);
    const hourStart = Math.ceil(SECOND / HOUR) * HOUR;
    expect(counts.firstIdAt(hourStart + HOUR) - counts.firstIdAt(hourStart)).toBe(counts.perHour);
    expect(counts.firstIdAt(hourStart + 2 * HOUR) - counts.firstIdAt(hourStart + HOUR)).toBe(counts.perHour);
    // A fresh instance (a restarted fake) agrees, whatever second it is asked about first.
    const again = new TradeCounts(42, 'BTCUSDT', 5);
    expect(again.firstIdAt(SECOND + HOUR + 17)).toBe(counts.firstIdAt(SECOND + HOUR + 17));
    expect(again.countAt(SECOND + 5)).toBe(counts.countAt(SECOND + 5));
  });

  it('varies the counts of an hour, not only their sum', () => {
    const counts = new TradeCounts(7, 'BTC-USD', 5);
    const hourStart = Math.ceil(SECOND / HOUR) * HOUR;
    const first = Array.from({ length: 60 }, (_, i) => counts.countAt(hourStart + i));
    const next = Array.from({ length: 60 }, (_, i) => counts.countAt(hourStart + HOUR + i));
    expect(first).not.toEqual(next);
  });

  it('gives other seeds ids of their own', () => {
    const a = new TradeCounts(42, 'BTCUSDT', 5);
    const b = new TradeCounts(43, 'BTCUSDT', 5);
    const span = (c: TradeCounts) => [c.firstIdAt(SECOND - 30 * 24 * HOUR), c.firstIdAt(SECOND + 30 * 24 * HOUR)] as const;
    const [a0, a1] = span(a);
    const [b0, b1] = span(b);
    expect(a1 < b0 || b1 < a0).toBe(true);
  });
});

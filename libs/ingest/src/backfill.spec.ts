import { describe, expect, it } from 'vitest';
import { refusalConcerns } from './backfill.js';

describe('refusalConcerns', () => {
  const from = new Date('2026-12-01T10:00:00Z');
  const to = new Date('2026-12-01T11:00:00Z');
  it('counts a refused bar inside [from, to) and one whose minute is unknown, not one outside', () => {
    expect(refusalConcerns({ barMinute: from.getTime() }, from, to)).toBe(true);
    expect(refusalConcerns({ barMinute: to.getTime() - 60_000 }, from, to)).toBe(true);
    expect(refusalConcerns({ barMinute: null }, from, to)).toBe(true);
    expect(refusalConcerns({}, from, to)).toBe(true);
    // A candle before `start` (Coinbase) and the tail of the last page (Binance).
    expect(refusalConcerns({ barMinute: from.getTime() - 60_000 }, from, to)).toBe(false);
    expect(refusalConcerns({ barMinute: to.getTime() }, from, to)).toBe(false);
  });
});

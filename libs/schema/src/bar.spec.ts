import { describe, expect, it } from 'vitest';
import { BarSchema, checkBar, compareDecimals, type Bar } from './bar.js';

const now = Date.parse('2026-06-01T12:00:00Z');
const bounds = { maxFutureMs: 60_000 };
const good: Bar = {
  source: 'alpaca', symbol: 'AAPL', assetClass: 'stock', openTime: '2026-06-01T11:58:00Z',
  open: '190.10', high: '190.50', low: '189.90', close: '190.20', volume: '1200', tradeCount: 31,
};

const check = (prices: Partial<Pick<Bar, 'open' | 'high' | 'low' | 'close'>>) => checkBar({ ...good, ...prices }, now, bounds);

describe('compareDecimals', () => {
  it('compares unsigned decimal strings exactly', () => {
    expect(compareDecimals('1.00000000000000000001', '1.00000000000000000000')).toBe(1);
    expect(compareDecimals('1.00000000000000000000', '1.00000000000000000001')).toBe(-1);
    expect(compareDecimals('126.550', '126.55')).toBe(0);
    expect(compareDecimals('1', '1.0')).toBe(0);
    expect(compareDecimals('0.1', '0.09')).toBe(1);
    expect(compareDecimals('99', '100.0')).toBe(-1);
    expect(compareDecimals('0', '0.00000000000000000001')).toBe(-1);
    // Past 2^53, where doubles stop telling integers apart.
    expect(compareDecimals('99999999999999999999', '99999999999999999998')).toBe(1);
  });
});

describe('bar high/low bounds', () => {
  it('accepts an ordinary bar unchanged', () => {
    expect(checkBar(good, now, bounds)).toEqual({ ok: true, bar: good });
  });

  it('accepts equal prices, however written', () => {
    expect(check({ open: '1', high: '1', low: '1', close: '1' }).ok).toBe(true);
    expect(check({ open: '1.00000000000000000000', high: '1', low: '1.0', close: '1.00' }).ok).toBe(true);
    expect(check({ open: '0.00000000000000000001', high: '0.00000000000000000001', low: '0.00000000000000000001', close: '0.00000000000000000001' }).ok).toBe(true);
  });

  it('rejects bounds broken beyond double precision', () => {
    // Number() makes both 1: high < open went through before.
    expect(Number('1.00000000000000000001')).toBe(Number('1.00000000000000000000'));
    const cases: Partial<Bar>[] = [
      { open: '1.00000000000000000001', high: '1.00000000000000000000', low: '1', close: '1' }, // high < open
      { open: '1', high: '1.00000000000000000000', low: '1', close: '1.00000000000000000001' }, // high < close
      { open: '1', high: '1', low: '1.00000000000000000001', close: '1' }, // low > high, open, close
      { open: '0.99999999999999999999', high: '1', low: '1', close: '1' }, // open < low
      { open: '1', high: '1', low: '1', close: '0.99999999999999999999' }, // close < low
      { open: '99999999999999999999', high: '99999999999999999998', low: '1', close: '1' }, // integers past 2^53
    ];
    for (const prices of cases) {
      expect(check(prices)).toEqual({ ok: false, reason: 'invalid_bar', detail: 'high: high/low do not bound open and close' });
    }
  });

  it('rejects a zero low', () => {
    expect(check({ open: '0', high: '1', low: '0', close: '1' })).toMatchObject({ ok: false, reason: 'invalid_bar', detail: 'low: prices must be positive' });
    expect(check({ open: '0.0', high: '0.0', low: '0.00', close: '0' })).toMatchObject({ ok: false, reason: 'invalid_bar', detail: 'low: prices must be positive' });
  });

  it('rejects negative, exponent and other non-decimal forms by pattern, without comparing them', () => {
    for (const [field, value] of [
      ['open', '-1'], ['low', '-0.5'], ['high', '1e3'], ['close', '1E-7'], ['open', '+1'], ['high', '.5'],
      ['low', 'NaN'], ['close', 'Infinity'], ['open', '0x10'], ['high', ''], ['open', '1.'], ['low', '01'],
    ] as const) {
      const result = check({ [field]: value });
      expect(result, `${field} ${value}`).toMatchObject({ ok: false, reason: 'invalid_bar' });
      expect(!result.ok && result.detail).toMatch(new RegExp(`^${field}: ${field} must be a positive decimal string`));
      // Every issue is about the pattern: none from the bounds check.
      const parsed = BarSchema.safeParse({ ...good, [field]: value });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues.map((i) => i.message)).toEqual([`${field} must be a positive decimal string`]);
    }
  });
});

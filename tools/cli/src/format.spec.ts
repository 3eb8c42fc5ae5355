import { describe, expect, it } from 'vitest';
import { parseInstant, UsageError } from './args.js';
import { describeMismatch, verifyWindow } from './commands/verify.js';
import { formatDuration, formatTable, formatTime } from './format.js';

describe('formatDuration', () => {
  it('shows at most two units', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(42_400)).toBe('42s');
    expect(formatDuration(307_000)).toBe('5m 07s');
    expect(formatDuration(3 * 3_600_000 + 12 * 60_000 + 5000)).toBe('3h 12m');
    expect(formatDuration(4 * 86_400_000 + 6 * 3_600_000)).toBe('4d 06h');
    expect(formatDuration(-5000)).toBe('-5s');
  });
});

describe('formatTable', () => {
  it('pads columns and right-aligns numbers', () => {
    const text = formatTable([{ header: 'NAME' }, { header: 'N', align: 'right' }], [['a', '1'], ['long-name', '1,000']]);
    expect(text).toBe('  NAME           N\n  a              1\n  long-name  1,000\n');
  });
});

describe('formatTime', () => {
  it('shows UTC to the second', () => {
    expect(formatTime('2026-01-01T10:00:59.999Z')).toBe('2026-01-01 10:00:59');
    expect(formatTime(null)).toBe('-');
  });
});

describe('parseInstant', () => {
  it('accepts instants with a zone and refuses local times', () => {
    expect(parseInstant('2026-01-01T10:00:00+02:00', '--from').toISOString()).toBe('2026-01-01T08:00:00.000Z');
    expect(parseInstant('2026-01-01', '--from').toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(() => parseInstant('2026-01-01T10:00:00', '--from')).toThrow(UsageError);
    expect(() => parseInstant('soon', '--to')).toThrow(UsageError);
  });
});

describe('verifyWindow', () => {
  const now = Date.parse('2026-03-10T00:00:00Z');
  it('defaults to the last 24 hours', () => {
    expect(verifyWindow(now, 7, undefined, undefined)).toEqual({
      from: new Date('2026-03-09T00:00:00Z'),
      to: new Date(now),
      requestedFrom: null,
    });
  });
  it('moves a start older than tick retention to the horizon', () => {
    const window = verifyWindow(now, 7, new Date('2026-01-01T00:00:00Z'), undefined);
    expect(window.from).toEqual(new Date('2026-03-03T00:00:00Z'));
    expect(window.requestedFrom).toEqual(new Date('2026-01-01T00:00:00Z'));
  });
});

describe('describeMismatch', () => {
  const base = { source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', openTime: '2026-01-01T00:00:00Z' };
  const values = { open: '1', high: '2', low: '1', close: '2', volume: '3', trade_count: 2 };
  it('names only the fields that differ', () => {
    expect(describeMismatch({ ...base, problem: 'different', stored: { ...values, high: '5' }, expected: values })).toBe(
      'different: high stored 5 expected 2',
    );
  });
  it('shows the values of a missing or unexpected candle', () => {
    expect(describeMismatch({ ...base, problem: 'missing', stored: null, expected: values })).toBe(
      'missing: no stored candle; expected open=1 high=2 low=1 close=2 volume=3 trade_count=2',
    );
    expect(describeMismatch({ ...base, problem: 'unexpected', stored: values, expected: null })).toContain('unexpected: stored open=1');
  });
});

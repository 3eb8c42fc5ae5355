import { describe, expect, it } from 'vitest';
import { checkRow, checkSeriesId, FredSeriesError, parseGraphCsv, parseObservationsJson } from './observations.js';

const ctx = { now: Date.parse('2026-11-20T12:00:00Z'), maxFutureMs: 120_000 };

describe('FRED observations', () => {
  it('keeps the value text as sent, at the period start, and negative or zero values too', () => {
    for (const value of ['3.95', '-0.12', '0', '0.00', '27610.128']) {
      expect(checkRow('T10Y2Y', '2026-10-01', value, '{}', ctx)).toEqual({
        kind: 'observation', observation: { symbol: 'T10Y2Y', ts: '2026-10-01T00:00:00Z', price: value, size: '0', tradeId: null },
      });
    }
  });

  it('skips FRED\'s missing-value marker and refuses what is not a value or a date', () => {
    expect(checkRow('DGS10', '2026-01-19', '.', '{}', ctx)).toEqual({ kind: 'missing' });
    expect(checkRow('DGS10', '2026-01-19', '', 'x', ctx)).toEqual({ kind: 'missing' });
    const reasons = [
      checkRow('DGS10', '2026-01-19', 'abc', 's', ctx),
      checkRow('DGS10', '2026-01-19', 3.95, 's', ctx),
      checkRow('DGS10', '2026-01-19', '1e5', 's', ctx),
      checkRow('DGS10', '2026-02-30', '1', 's', ctx),
      checkRow('DGS10', '20260119', '1', 's', ctx),
      checkRow('DGS10', '2026-12-01', '1', 's', ctx),
    ].map((r) => (r.kind === 'rejected' ? [r.rejection.reason, r.rejection.symbol] : r.kind));
    expect(reasons).toEqual([
      ['invalid_price', 'DGS10'], ['invalid_price', 'DGS10'], ['invalid_price', 'DGS10'],
      ['invalid_timestamp', 'DGS10'], ['invalid_timestamp', 'DGS10'], ['future_timestamp', 'DGS10'],
    ]);
  });

  it('reads the JSON envelope and the fredgraph CSV (current and older headers)', () => {
    const json = parseObservationsJson('{"realtime_start":"2026-11-20","count":3,"offset":1,"limit":1,"observations":[{"realtime_start":"2026-11-20","realtime_end":"2026-11-20","date":"2026-01-02","value":"4.01"}]}');
    expect(json).toEqual({ kind: 'page', count: 3, offset: 1, rows: [{ date: '2026-01-02', value: '4.01', sample: '{"realtime_start":"2026-11-20","realtime_end":"2026-11-20","date":"2026-01-02","value":"4.01"}' }] });
    expect(parseObservationsJson('{"observations":').kind).toBe('rejected');
    expect(parseObservationsJson('{"error_code":400}').kind).toBe('rejected');

    expect(parseGraphCsv('observation_date,DGS10\r\n2026-01-02,4.01\r\n2026-01-05,\r\n', 'DGS10')).toEqual({
      kind: 'rows', bad: [], rows: [{ date: '2026-01-02', value: '4.01', sample: '2026-01-02,4.01' }, { date: '2026-01-05', value: '', sample: '2026-01-05,' }],
    });
    expect(parseGraphCsv('DATE,DGS10\n2020-01-02,1.88\n2020-01-03,.\nbroken\n', 'DGS10')).toMatchObject({ kind: 'rows', bad: ['broken'] });
    expect(parseGraphCsv('<!DOCTYPE html><html>', 'DGS10').kind).toBe('rejected');
    expect(parseGraphCsv('observation_date,GDP\n', 'DGS10').kind).toBe('rejected');
  });

  it('takes series ids as they are', () => {
    expect(checkSeriesId('BAMLH0A0HYM2')).toBe('BAMLH0A0HYM2');
    for (const bad of ['dgs10', 'DGS 10', 'A/B', '']) expect(() => checkSeriesId(bad), bad).toThrow(FredSeriesError);
  });
});

import { describe, expect, it } from 'vitest';
import { isUsEquityMarketOpen, nyseEarlyCloses, nyseHolidays, usEquitySessions } from './calendar.js';

describe('NYSE calendar', () => {
  it('matches the published holidays of 2024, 2025 and 2026', () => {
    expect([...nyseHolidays(2024)].sort()).toEqual([
      '2024-01-01', '2024-01-15', '2024-02-19', '2024-03-29', '2024-05-27', '2024-06-19', '2024-07-04', '2024-09-02', '2024-11-28', '2024-12-25',
    ]);
    expect([...nyseHolidays(2025)].sort()).toEqual([
      '2025-01-01', '2025-01-09', '2025-01-20', '2025-02-17', '2025-04-18', '2025-05-26', '2025-06-19', '2025-07-04', '2025-09-01', '2025-11-27', '2025-12-25',
    ]);
    expect([...nyseHolidays(2026)].sort()).toEqual([
      '2026-01-01', '2026-01-19', '2026-02-16', '2026-04-03', '2026-05-25', '2026-06-19', '2026-07-03', '2026-09-07', '2026-11-26', '2026-12-25',
    ]);
  });

  it('does not observe a Saturday New Year on the Friday before (2022)', () => {
    expect(nyseHolidays(2022).has('2021-12-31')).toBe(false);
    expect(nyseHolidays(2021).has('2021-12-31')).toBe(false);
    expect([...nyseHolidays(2022)].filter((d) => d.startsWith('2022-01'))).toEqual(['2022-01-17']);
  });

  it('knows the early closes', () => {
    expect([...nyseEarlyCloses(2024)].sort()).toEqual(['2024-07-03', '2024-11-29', '2024-12-24']);
    expect([...nyseEarlyCloses(2025)].sort()).toEqual(['2025-07-03', '2025-11-28', '2025-12-24']);
    // 2026: July 4 is a Saturday, observed Friday the 3rd: no early close that week.
    expect([...nyseEarlyCloses(2026)].sort()).toEqual(['2026-11-27', '2026-12-24']);
  });

  it('gives sessions in UTC across daylight saving time, early closes included', () => {
    const sessions = usEquitySessions(new Date('2026-11-23T00:00:00Z'), new Date('2026-11-30T00:00:00Z'));
    expect(sessions.map((s) => [s.open.toISOString(), s.close.toISOString()])).toEqual([
      ['2026-11-23T14:30:00.000Z', '2026-11-23T21:00:00.000Z'],
      ['2026-11-24T14:30:00.000Z', '2026-11-24T21:00:00.000Z'],
      ['2026-11-25T14:30:00.000Z', '2026-11-25T21:00:00.000Z'],
      // Thanksgiving closed; Friday closes at 13:00 New York.
      ['2026-11-27T14:30:00.000Z', '2026-11-27T18:00:00.000Z'],
    ]);
    const summer = usEquitySessions(new Date('2026-07-06T00:00:00Z'), new Date('2026-07-07T00:00:00Z'));
    expect(summer[0]?.open.toISOString()).toBe('2026-07-06T13:30:00.000Z');
    expect(isUsEquityMarketOpen(new Date('2026-07-06T19:59:00Z'))).toBe(true);
    expect(isUsEquityMarketOpen(new Date('2026-07-06T20:00:00Z'))).toBe(false);
    expect(isUsEquityMarketOpen(new Date('2026-11-28T15:00:00Z'))).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { isoMicros } from './instant.js';

describe('isoMicros', () => {
  it('reads the tick wire form to the microsecond, like Date.parse to the millisecond', () => {
    for (const ts of ['2026-01-01T10:00:30Z', '2026-01-01T10:00:30.5Z', '2026-01-01T10:00:30.123456Z', '2024-02-29T23:59:59.999Z', '1999-12-31T00:00:00.000001Z', '0050-03-01T00:00:00Z']) {
      expect(Math.floor(isoMicros(ts)! / 1000), ts).toBe(Date.parse(ts));
    }
    expect(isoMicros('2026-01-01T10:00:30.123456Z')! % 1000).toBe(456);
    expect(isoMicros('2026-01-01T10:00:30.5Z')! % 1_000_000).toBe(500_000);
  });

  it('refuses what is not a real instant in that form, also right after a good one of the same minute', () => {
    expect(isoMicros('2026-01-01T10:00:30Z')).toBeDefined();
    for (const ts of ['2026-02-30T10:00:00Z', '2025-02-29T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T10:60:00Z',
      '2026-01-01T10:00:60Z', '2026-01-01T10:00:30.1234567Z', '2026-01-01T10:00:30.Z', '2026-01-01T10:00:30', '2026-01-01 10:00:30Z',
      '2026-01-01T10:00:3xZ', '2026-01-01T10:00:30+00:00', '2026-1-01T10:00:30Z']) {
      expect(isoMicros(ts), ts).toBeUndefined();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { describeUrl, MAX_RETRY_AFTER_MS, parseHttpDate, parseRetryAfter } from './http.js';

const NOW = Date.UTC(2025, 2, 14, 12, 0, 0); // Fri, 14 Mar 2025 12:00:00 GMT

describe('parseRetryAfter', () => {
  it('reads delta-seconds as milliseconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 3 ', NOW)).toBe(3000);
    // Not RFC 9110, but some servers send it: rounded up, never down to a busy loop.
    expect(parseRetryAfter('1.5', NOW)).toBe(1500);
    expect(parseRetryAfter('0.0001', NOW)).toBe(1);
  });

  it('reads an HTTP date in all three forms RFC 9110 admits, relative to now', () => {
    expect(parseRetryAfter('Fri, 14 Mar 2025 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Friday, 14-Mar-25 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Fri Mar 14 12:00:05 2025', NOW)).toBe(5000);
    expect(parseRetryAfter('Sat Mar  1 00:00:00 2025', Date.UTC(2025, 1, 28, 23, 59, 0))).toBe(60_000);
  });

  it('answers 0 for a date already past', () => {
    expect(parseRetryAfter('Fri, 14 Mar 2025 11:59:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
  });

  it('answers undefined for absent, empty, negative and garbage values', () => {
    for (const value of [null, undefined, '', '   ', '-1', '-0.5', 'soon', '1e3', '0x10', 'Infinity', 'NaN', '12abc', '+5',
      'Fri, 31 Feb 2025 12:00:00 GMT', 'Fri, 14 Mar 2025 25:00:00 GMT', 'Fri, 14 Foo 2025 12:00:00 GMT', 'Fri, 14 Mar 2025 12:00:00 PST',
      '2025-03-14T12:00:30Z']) {
      expect(parseRetryAfter(value, NOW), String(value)).toBeUndefined();
    }
  });

  it('is bounded', () => {
    expect(parseRetryAfter('99999999999999999999999', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Fri, 14 Mar 2125 12:00:00 GMT', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('600', NOW, 60_000)).toBe(60_000);
  });
});

describe('parseHttpDate', () => {
  it('takes an RFC 850 two-digit year more than 50 years ahead as the past century', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Monday, 06-Nov-30 08:49:37 GMT', NOW)).toBe(Date.UTC(2030, 10, 6, 8, 49, 37));
  });
});

describe('describeUrl', () => {
  it('keeps the origin and path, never the query or credentials', () => {
    expect(describeUrl('https://user:pw@api.example.com/fred/series/observations?api_key=SECRET&series_id=GDP')).toBe('https://api.example.com/fred/series/observations');
  });
});

import { describe, expect, it } from 'vitest';
import { backoffDelay, errorMessage } from './backoff.js';

describe('errorMessage', () => {
  it('masks a password a driver quotes in its message and keeps the code', () => {
    const error = Object.assign(new Error('connect failed for redis://:s3cret@10.0.0.5:6379'), { code: 'ECONNREFUSED' });
    expect(errorMessage(error)).toBe('connect failed for redis://:***@10.0.0.5:6379 (ECONNREFUSED)');
    expect(errorMessage(new AggregateError([new Error('postgres://u:pw@h/db down')]))).toBe('postgres://u:***@h/db down');
  });
});

describe('backoffDelay', () => {
  it('doubles up to the cap, with bounded jitter', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 2000, jitter: 0.2 });
      const base = Math.min(2000, 100 * 2 ** (attempt - 1));
      expect(delay).toBeGreaterThanOrEqual(base * 0.8 - 1);
      expect(delay).toBeLessThanOrEqual(base);
    }
  });
});

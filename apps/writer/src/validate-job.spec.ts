import { describe, expect, it } from 'vitest';
import { validateTickJob } from './validate-job.js';

const now = Date.parse('2026-06-01T12:00:00Z');
const bounds = { maxFutureMs: 60_000, tickRetentionMs: { crypto: 7 * 86_400_000, stock: 7 * 86_400_000, macro: 3650 * 86_400_000 } };
const tick = (ts: string, extra: Record<string, unknown> = {}) => ({
  source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts, price: '1.5', size: '2', tradeId: ts, ...extra,
});

describe('validateTickJob', () => {
  it('keeps valid ticks and turns each bad one into a rejection with its position and reason', () => {
    const result = validateTickJob(
      {
        v: 1,
        producer: 'ingest-crypto',
        ticks: [tick('2026-06-01T11:00:00Z'), tick('2026-05-01T00:00:00Z'), tick('2026-06-01T11:00:01Z', { price: '0' }), 'garbage'],
        rejected: [{ source: 'sim', symbol: 'X/Y', reason: 'unknown_symbol', detail: 'not configured', sample: '{}', observedAt: '2026-06-01T11:00:00Z' }],
      },
      'ticks:7', now, bounds,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.ticks).toHaveLength(1);
    expect(result.rejections.map((r) => [r.origin, r.position, r.reason])).toEqual([
      ['ingest', 0, 'unknown_symbol'],
      ['writer', 1, 'older_than_retention'],
      ['writer', 2, 'invalid_price'],
      ['writer', 3, 'malformed'],
    ]);
    expect(result.rejections.every((r) => r.jobKey === 'ticks:7')).toBe(true);
  });

  it('refuses an envelope that can never be valid', () => {
    expect(validateTickJob({ v: 2, ticks: [] }, 'ticks:1', now, bounds)).toMatchObject({ ok: false });
    expect(validateTickJob(null, 'ticks:1', now, bounds)).toMatchObject({ ok: false });
  });

  it('cuts oversized samples', () => {
    const huge = { ...tick('2026-06-01T11:00:00Z'), price: 'x'.repeat(10_000) };
    const result = validateTickJob({ v: 1, producer: 'p', ticks: [huge] }, 'ticks:2', now, bounds);
    expect(result.ok && result.rejections[0]!.sample.length).toBeLessThanOrEqual(2000);
  });

  it('makes hostile text storable: NUL never reaches PostgreSQL, so the valid ticks are still written', () => {
    const result = validateTickJob(
      {
        v: 1, producer: 'p',
        ticks: [tick('2026-06-01T11:00:00Z'), tick('2026-06-01T11:00:01Z', { symbol: 'BAD\u0000', tradeId: 'a\u0000b' })],
        rejected: [{ source: 'sim\u0000', symbol: 'X\u0000', reason: 'malformed', detail: 'd\u0000', sample: '\u0000', observedAt: '2026-06-01T11:00:00Z' }],
      },
      'ticks:3', now, bounds,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.ticks).toHaveLength(1);
    for (const r of result.rejections) {
      for (const text of [r.source, r.symbol ?? '', r.detail, r.sample]) expect(text.includes(String.fromCharCode(0))).toBe(false);
    }
  });
});

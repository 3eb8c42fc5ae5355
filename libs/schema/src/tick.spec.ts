import { describe, expect, it } from 'vitest';
import { checkTick, TickSchema, type Tick } from './tick.js';

const now = Date.parse('2026-06-01T12:00:00Z');
const bounds = { maxFutureMs: 60_000, notBefore: () => now - 7 * 86_400_000 };
const good: Tick = { source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts: '2026-06-01T11:59:00.123456Z', price: '65000.10', size: '0.0012', tradeId: '42' };

const reasonFor = (patch: Record<string, unknown>) => {
  const result = checkTick({ ...good, ...patch }, now, bounds);
  return result.ok ? 'ok' : result.reason;
};

describe('checkTick', () => {
  it('accepts a well-formed tick unchanged', () => {
    expect(checkTick(good, now, bounds)).toEqual({ ok: true, tick: good });
  });

  it.each([
    [{ price: '-1' }, 'invalid_price'],
    [{ price: '0' }, 'invalid_price'],
    [{ price: 'NaN' }, 'invalid_price'],
    [{ price: '1e5' }, 'invalid_price'],
    [{ price: 65000.1 }, 'invalid_price'],
    [{ price: '1'.repeat(60) }, 'invalid_price'],
    [{ size: '-0.1' }, 'invalid_size'],
    [{ size: 'Infinity' }, 'invalid_size'],
    [{ symbol: 'BTCUSDT' }, 'invalid_symbol'],
    [{ source: 'Binance!' }, 'invalid_source'],
    [{ ts: '2026-06-01 11:59:00' }, 'invalid_timestamp'],
    [{ ts: '2026-02-30T00:00:00Z' }, 'invalid_timestamp'],
    [{ ts: '2026-13-01T00:00:00Z' }, 'invalid_timestamp'],
    [{ ts: '2026-06-01T12:05:00Z' }, 'future_timestamp'],
    [{ ts: '2026-05-01T00:00:00Z' }, 'older_than_retention'],
    [{ tradeId: '' }, 'invalid_trade_id'],
    [{ extra: 1 }, 'malformed'],
  ])('%j → %s', (patch, reason) => {
    expect(reasonFor(patch)).toBe(reason);
  });

  it('rejects non-objects and missing fields as malformed', () => {
    expect(checkTick(null, now, bounds)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(checkTick([1, 2], now, bounds)).toMatchObject({ ok: false, reason: 'malformed' });
    const { price: _price, ...noPrice } = good;
    expect(checkTick(noPrice, now, bounds)).toMatchObject({ ok: false, reason: 'malformed', detail: 'missing price' });
  });

  it('lets macro observations be zero or negative', () => {
    const macro = { ...good, symbol: 'T10Y2Y', assetClass: 'macro', price: '-0.35', size: '0', tradeId: null };
    expect(checkTick(macro, now, bounds).ok).toBe(true);
  });
});

describe('checkTick fast path agrees with TickSchema', () => {
  it('accepts exactly what the schema accepts, over valid ticks and many mutations of them', () => {
    const base = [
      { source: 'binance', symbol: 'BTC/USDT', assetClass: 'crypto', ts: '2026-03-02T15:30:00.123456Z', price: '65000.12', size: '0.00100000', tradeId: '123' },
      { source: 'yahoo', symbol: 'BRK.B', assetClass: 'stock', ts: '2026-03-02T15:30:00Z', price: '189.83999633789062', size: '0', tradeId: null },
      { source: 'fred', symbol: 'DGS10', assetClass: 'macro', ts: '2026-03-02T00:00:00Z', price: '-0.5', size: '0', tradeId: null },
    ];
    const values: unknown[] = ['', 'x', 'BTC/USDT', 'btc/usdt', 'AAPL', 'DGS10', '0', '-1', '1e5', '01', '1.', '.5', ' 1', '1.000000000000000000001',
      '123456789012345678901', '2026-02-30T00:00:00Z', '2026-03-02T15:30:00.1234567Z', '2026-03-02T15:30:00+00:00', '2026-03-02T15:30Z',
      'a b', 'é', 'x'.repeat(65), 'Binance', 'crypto', 'forex', null, 1, true, {}, [], undefined];
    let compared = 0;
    for (const tick of base) {
      for (const field of Object.keys(tick)) {
        for (const value of values) {
          const mutated: Record<string, unknown> = { ...tick, [field]: value };
          if (value === undefined) delete mutated[field];
          const fast = checkTick(mutated, Date.parse('2026-03-02T16:00:00Z'), { maxFutureMs: 1e12 }).ok;
          expect(fast, `${field}=${JSON.stringify(value)}`).toBe(TickSchema.safeParse(mutated).success);
          compared++;
        }
      }
      expect(checkTick({ ...tick, extra: 1 }, 0, { maxFutureMs: 1e15 }).ok).toBe(false);
    }
    expect(compared).toBeGreaterThan(500);
  });
});

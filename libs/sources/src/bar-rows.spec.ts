import { describe, expect, it } from 'vitest';
import type { MarketSource, SourceBar, SourceRejection } from './source.js';
import { createBinanceSource } from './binance/binance-source.js';
import { createCoinbaseSource } from './coinbase/coinbase-source.js';
import { createAlpacaSource } from './alpaca/alpaca-source.js';
import { createYahooSource } from './yahoo/yahoo-source.js';
import { parseChart } from './yahoo/chart.js';
import { createFredSource } from './fred/fred-source.js';

/**
 * A provider's bar answer with bad rows in it: bars() leaves them out of its pages and hands each
 * to the caller's `reject` with its reason and the minute it stood for (null when unreadable), so
 * gap-fill records it and keeps the minute open. Before, the rows vanished without a word.
 */
const MINUTE = 60_000;
const M0 = Math.floor(Date.now() / MINUTE) * MINUTE - 60 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** A fetch that answers every request with `body` (the request is not what is under test). */
const answering = (body: string): typeof fetch => async () => new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });

async function drain(source: MarketSource, symbol: string, from: number, to: number) {
  const bars: SourceBar[] = [];
  const rejected: SourceRejection[] = [];
  for await (const page of source.bars!({ symbol, from: new Date(from), to: new Date(to), reject: (r) => rejected.push(r) })) bars.push(...page);
  return { bars, rejected };
}

describe('bad rows of a provider\'s bar answer become rejections with their minute', () => {
  it('binance klines', async () => {
    const kline = (t: number, high: unknown) => [t, '100.0', high, '99.5', '100.2', '3.5', t + 59_999, '350', 7, '1', '100', '0'];
    const body = JSON.stringify([kline(M0, '100.5'), kline(M0 + MINUTE, 'abc'), ['x'], kline(M0 + 2 * MINUTE, '100.5')]);
    const source = createBinanceSource({ assetClass: 'crypto', seed: 1 }, { fetch: answering(body) });
    const { bars, rejected } = await drain(source, 'BTC/USDT', M0, M0 + 3 * MINUTE);
    expect(bars.map((b) => b.openTime)).toEqual([iso(M0), iso(M0 + 2 * MINUTE)]);
    expect(rejected.map((r) => [r.reason, r.barMinute, r.symbol])).toEqual([['invalid_bar', M0 + MINUTE, 'BTC/USDT'], ['malformed', null, 'BTC/USDT']]);
    expect(rejected[0]!.detail).toContain('"abc"');
    expect(rejected[0]!.sample).toContain('"abc"');
  });

  it('coinbase candles, bounds compared exactly beyond double precision', async () => {
    const s = (ms: number) => ms / 1000;
    // high below open by 1e-20: through Number both are 1 and the row would pass.
    const body = `[[${s(M0 + 2 * MINUTE)}, 1, 1.00000000000000000000, 1.00000000000000000001, 1, 5],[${s(M0 + MINUTE)}, "x", 2, 1, 1, 5],[${s(M0)}, 1, 2, 1, 1.5, 5]]`;
    const source = createCoinbaseSource({ assetClass: 'crypto', seed: 1 }, { fetch: answering(body) });
    const { bars, rejected } = await drain(source, 'BTC/USD', M0, M0 + 3 * MINUTE);
    expect(bars.map((b) => b.openTime)).toEqual([iso(M0)]);
    expect(rejected.map((r) => [r.reason, r.barMinute]).sort()).toEqual([['invalid_bar', M0 + MINUTE], ['invalid_bar', M0 + 2 * MINUTE]]);
    expect(rejected.find((r) => r.barMinute === M0 + 2 * MINUTE)!.detail).toContain('do not bound');
  });

  it('alpaca bars', async () => {
    const bar = (t: number, h: string) => `{"t":"${iso(t)}","o":100.0,"h":${h},"l":99.5,"c":100.2,"v":350,"n":7,"vw":100.1}`;
    const body = `{"bars":{"AAPL":[${bar(M0, '100.5')},${bar(M0 + MINUTE, '99.9')},{"t":"soon","o":1,"h":1,"l":1,"c":1,"v":1}]},"next_page_token":null}`;
    const source = createAlpacaSource({ assetClass: 'stock', seed: 1, settings: { alpaca: { keyId: 'k', secretKey: 's' } } }, { fetch: answering(body) });
    const { bars, rejected } = await drain(source, 'AAPL', M0, M0 + 3 * MINUTE);
    expect(bars.map((b) => b.openTime)).toEqual([iso(M0)]);
    expect(rejected.map((r) => [r.reason, r.barMinute])).toEqual([['invalid_bar', M0 + MINUTE], ['invalid_timestamp', null]]);
  });

  it('yahoo chart rows (the quote\'s own refusals are not bar rows)', async () => {
    const t = (ms: number) => ms / 1000;
    const body = `{"chart":{"result":[{"meta":{"symbol":"AAPL","regularMarketTime":"bad","regularMarketPrice":-1},"timestamp":[${t(M0)},${t(M0 + MINUTE)},"x"],` +
      `"indicators":{"quote":[{"open":[100,100,1],"high":[101,99,1],"low":[99,99,1],"close":[100,100,1],"volume":[5,5,5]}]}}],"error":null}}`;
    const source = createYahooSource({ assetClass: 'stock', seed: 1 }, { fetch: answering(body) });
    const { bars, rejected } = await drain(source, 'AAPL', M0, M0 + 3 * MINUTE);
    expect(bars.map((b) => b.openTime)).toEqual([iso(M0)]);
    expect(rejected.map((r) => [r.reason, r.barMinute]).sort()).toEqual([['invalid_bar', M0 + MINUTE], ['invalid_timestamp', null]]);
  });
});

describe('yahoo merges two rows of one minute with exact decimals', () => {
  it('takes the higher high even when the two differ beyond double precision', () => {
    const now = M0 + 10 * MINUTE;
    const t = M0 / 1000;
    const body = `{"chart":{"result":[{"meta":{"symbol":"AAPL"},"timestamp":[${t},${t + 30}],"indicators":{"quote":[{` +
      '"open":[1.00000000000000000001,1.00000000000000000001],"high":[1.00000000000000000001,1.00000000000000000002],' +
      '"low":[1,1],"close":[1.00000000000000000001,1.00000000000000000002],"volume":[1,2]}]}}],"error":null}}';
    const outcome = parseChart(body, { symbol: 'AAPL', now, maxFutureMs: 120_000 });
    if (outcome.kind !== 'chart') throw new Error(JSON.stringify(outcome));
    // Through Number the second high looked equal, the first was kept, and the bar (high < close) was refused.
    expect(outcome.rejections).toEqual([]);
    expect(outcome.bars).toEqual([{ symbol: 'AAPL', openTime: iso(M0), open: '1.00000000000000000001', high: '1.00000000000000000002', low: '1', close: '1.00000000000000000002', volume: '3', tradeCount: null }]);
  });
});

describe('bad rows of a history() answer become rejections too', () => {
  it('fred observations: a bad value is refused with its reason, a "." is a missing day', async () => {
    const body = JSON.stringify({
      count: 3, offset: 0, limit: 1000,
      observations: [{ date: '2026-01-02', value: '3.95' }, { date: '2026-01-05', value: 'n/a' }, { date: '2026-01-06', value: '.' }],
    });
    const source = createFredSource({ assetClass: 'macro', seed: 1 }, { fetch: answering(body), apiKey: 'a'.repeat(32) });
    const rejected: SourceRejection[] = [];
    const values: string[] = [];
    for await (const page of source.history({ symbol: 'DGS10', from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-10T00:00:00Z'), reject: (r) => rejected.push(r) })) {
      values.push(...page.map((o) => o.price));
    }
    expect(values).toEqual(['3.95']);
    expect(rejected.map((r) => [r.symbol, r.reason, r.barMinute])).toEqual([['DGS10', 'invalid_price', undefined]]);
    expect(rejected[0]!.detail).toContain('"n/a"');
  });
});

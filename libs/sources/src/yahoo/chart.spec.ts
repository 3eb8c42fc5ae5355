import { describe, expect, it } from 'vitest';
import { parseChart, plainDecimal, type ChartOutcome } from './chart.js';

const NOW = Date.parse('2026-11-20T15:00:30Z');
const T0 = NOW / 1000 - 30 - 120; // 14:58:00
const check = { symbol: 'BRK.B', now: NOW, maxFutureMs: 120_000 };

/** A chart body as Yahoo writes it: numbers are raw JSON text, so float artefacts stay as sent. */
function body(options: { timestamps?: string; open?: string; high?: string; low?: string; close?: string; volume?: string; price?: string; time?: string } = {}): string {
  const {
    timestamps = `[${T0},${T0 + 60},${T0 + 120}]`,
    open = '[410.1000061035156,null,410.30999755859375]',
    high = '[410.5,null,410.42999267578125]',
    low = '[409.989990234375,null,410.20001220703125]',
    close = '[410.20001220703125,null,410.3500061035156]',
    volume = '[1200,null,null]',
    price = '410.3500061035156',
    time = String(NOW / 1000 - 5),
  } = options;
  return `{"chart":{"result":[{"meta":{"currency":"USD","symbol":"BRK-B","regularMarketTime":${time},"regularMarketPrice":${price},"exchangeTimezoneName":"America/New_York"},"timestamp":${timestamps},"indicators":{"quote":[{"open":${open},"high":${high},"low":${low},"close":${close},"volume":${volume}}]}}],"error":null}}`;
}

function chart(outcome: ChartOutcome) {
  if (outcome.kind !== 'chart') throw new Error(`expected a chart, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('parseChart', () => {
  it('keeps the number text Yahoo sent, skips null entries, gives a null volume as 0', () => {
    const out = chart(parseChart(body(), check));
    expect(out.bars).toEqual([
      { symbol: 'BRK.B', openTime: '2026-11-20T14:58:00Z', open: '410.1000061035156', high: '410.5', low: '409.989990234375', close: '410.20001220703125', volume: '1200', tradeCount: null },
      { symbol: 'BRK.B', openTime: '2026-11-20T15:00:00Z', open: '410.30999755859375', high: '410.42999267578125', low: '410.20001220703125', close: '410.3500061035156', volume: '0', tradeCount: null },
    ]);
    expect(out.nullEntries).toBe(1);
    expect(out.rejections).toEqual([]);
    expect(out.quote).toEqual({
      time: NOW / 1000 - 5,
      observation: { symbol: 'BRK.B', ts: '2026-11-20T15:00:25.000Z', price: '410.3500061035156', size: '0', tradeId: null },
    });
  });

  it('merges a live row Yahoo sends apart from its minute', () => {
    const out = chart(parseChart(body({
      timestamps: `[${T0},${T0 + 97}]`, open: '[10.5,10.75]', high: '[10.75,11.25]', low: '[10.25,10.5]', close: '[10.5,11]', volume: '[100,50]',
    }), check));
    // 14:58:00 and 14:59:37 are different minutes: two bars.
    expect(out.bars.map((b) => b.openTime)).toEqual(['2026-11-20T14:58:00Z', '2026-11-20T14:59:00Z']);
    const merged = chart(parseChart(body({
      timestamps: `[${T0},${T0 + 37}]`, open: '[10.5,10.75]', high: '[10.75,11.25]', low: '[10.25,10.5]', close: '[10.5,11]', volume: '[100,50]',
    }), check));
    expect(merged.bars).toEqual([{ symbol: 'BRK.B', openTime: '2026-11-20T14:58:00Z', open: '10.5', high: '11.25', low: '10.25', close: '11', volume: '150', tradeCount: null }]);
  });

  it('refuses bad bars and a bad quote one by one, keeping the rest', () => {
    const out = chart(parseChart(body({ high: '[400,null,410.42999267578125]', price: '-1.5' }), check));
    expect(out.bars.map((b) => b.openTime)).toEqual(['2026-11-20T15:00:00Z']);
    expect(out.rejections.map((r) => [r.reason, r.symbol])).toEqual([['invalid_price', 'BRK.B'], ['invalid_bar', 'BRK.B']]);
    expect(out.rejections[1]!.sample).toContain('"high":400');
    expect(out.quote).toBeUndefined();

    const future = chart(parseChart(body({ time: String(NOW / 1000 + 86_400) }), check));
    expect(future.rejections.map((r) => r.reason)).toEqual(['future_timestamp']);
    const wrongType = chart(parseChart(body({ close: '["410.2",null,410.35]' }), check));
    expect(wrongType.rejections.map((r) => r.reason)).toEqual(['invalid_bar']);
    expect(wrongType.bars).toHaveLength(1);
  });

  it('refuses ragged arrays, non-JSON and bodies without a chart as a whole', () => {
    const ragged = chart(parseChart(body({ close: '[1,2]' }), check));
    expect(ragged.bars).toEqual([]);
    expect(ragged.rejections.map((r) => r.reason)).toEqual(['malformed']);
    expect(ragged.quote).toBeDefined(); // the meta price is still good
    for (const text of ['{"chart":{"result":[{"meta"', '<html>Will be right back</html>', '{"finance":{}}', '{"chart":{"result":[],"error":null}}']) {
      const out = parseChart(text, check);
      expect(out.kind, text).toBe('rejected');
      if (out.kind === 'rejected') expect(out.rejection).toMatchObject({ symbol: 'BRK.B', reason: 'malformed' });
    }
  });

  it('reads Yahoo error bodies and windows without minutes', () => {
    expect(parseChart('{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}', check)).toEqual({
      kind: 'error', code: 'Not Found', description: 'No data found, symbol may be delisted',
    });
    const empty = chart(parseChart('{"chart":{"result":[{"meta":{"regularMarketTime":null,"regularMarketPrice":null},"indicators":{"quote":[{}]}}],"error":null}}', check));
    expect(empty).toEqual({ kind: 'chart', bars: [], quote: undefined, rejections: [], nullEntries: 0 });
  });
});

describe('plainDecimal', () => {
  it('writes exponent forms out exactly and leaves plain ones alone', () => {
    expect(plainDecimal('189.83999633789062')).toBe('189.83999633789062');
    expect(plainDecimal('1.5E2')).toBe('150');
    expect(plainDecimal('1.25e1')).toBe('12.5');
    expect(plainDecimal('2e-7')).toBe('0.0000002');
    expect(plainDecimal('1.2345678e-3')).toBe('0.0012345678');
    expect(plainDecimal('-3.5E+3')).toBe('-3500');
    expect(plainDecimal('1e400')).toBe('1e400');
  });
});

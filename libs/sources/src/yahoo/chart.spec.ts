import { describe, expect, it } from 'vitest';
import { parseChart, plainDecimal, type ChartOutcome } from './chart.js';
import { expectMapped } from '../kit/testing.js';

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

describe("parseChart: Yahoo's trailing live row", () => {
  // Friday 2026-11-20, New York on EST: the regular session closes 16:00 = 21:00Z.
  const AFTER_CLOSE = Date.parse('2026-11-20T21:05:10Z');
  const CLOSE = Date.parse('2026-11-20T21:00:00Z') / 1000;
  const late = { symbol: 'AAPL', now: AFTER_CLOSE, maxFutureMs: 120_000 };
  const REGULAR = { timezone: 'EST', start: CLOSE - 6.5 * 3600, end: CLOSE, gmtoffset: -18000 };

  /** The last two minutes of the session, then `extra` rows, in the shape of a recorded body (meta trimmed). */
  function lateBody(extra: { time: number; price: string; volume: string }[], withPeriod = true): string {
    const rows = [
      { time: CLOSE - 120, open: '228.52000427246094', high: '228.60000610351562', low: '228.41000366210938', close: '228.5500030517578', volume: '412395' },
      { time: CLOSE - 60, open: '228.5500030517578', high: '228.74000549316406', low: '228.47999572753906', close: '228.69000244140625', volume: '1893530' },
      ...extra.map((e) => ({ time: e.time, open: e.price, high: e.price, low: e.price, close: e.price, volume: e.volume })),
    ];
    const column = (k: 'open' | 'high' | 'low' | 'close' | 'volume') => `[${rows.map((r) => r[k]).join(',')}]`;
    const period = withPeriod
      ? `,"currentTradingPeriod":{"pre":{"timezone":"EST","start":${CLOSE - 12 * 3600},"end":${REGULAR.start},"gmtoffset":-18000},"regular":${JSON.stringify(REGULAR)},"post":{"timezone":"EST","start":${CLOSE},"end":${CLOSE + 4 * 3600},"gmtoffset":-18000}}`
      : '';
    return `{"chart":{"result":[{"meta":{"currency":"USD","symbol":"AAPL","exchangeName":"NMS","instrumentType":"EQUITY","regularMarketTime":${CLOSE},"gmtoffset":-18000,"timezone":"EST","exchangeTimezoneName":"America/New_York","regularMarketPrice":228.69000244140625,"chartPreviousClose":229.0${period},"dataGranularity":"1m","range":"1d"},"timestamp":[${rows.map((r) => r.time).join(',')}],"indicators":{"quote":[{"close":${column('close')},"volume":${column('volume')},"open":${column('open')},"high":${column('high')},"low":${column('low')}}]}}],"error":null}}`;
  }
  const placeholder = (time: number, volume = '0') => ({ time, price: '228.69000244140625', volume });
  const openTimes = (outcome: ChartOutcome) => chart(outcome).bars.map((b) => b.openTime);

  it('leaves out a last flat zero-volume row stamped at the close, with or without meta.currentTradingPeriod', () => {
    for (const withPeriod of [true, false]) {
      const out = chart(parseChart(lateBody([placeholder(CLOSE)], withPeriod), late));
      expect(out.bars.map((b) => b.openTime), String(withPeriod)).toEqual(['2026-11-20T20:58:00Z', '2026-11-20T20:59:00Z']);
      expect(out.rejections).toEqual([]);
      expect(out.liveRow).toBe(CLOSE);
    }
  });

  it('leaves out the row stamped in the next session (its close, or its open past regular.end), not refusing it as future', () => {
    const nextClose = Date.parse('2026-11-23T21:00:00Z') / 1000; // Monday 16:00 New York
    const nextOpen = Date.parse('2026-11-23T14:30:00Z') / 1000; // Monday 09:30 New York
    for (const [time, withPeriod] of [[nextClose, true], [nextClose, false], [nextOpen, true]] as const) {
      const out = chart(parseChart(lateBody([placeholder(time)], withPeriod), late));
      expect(openTimes(out), `${time} ${withPeriod}`).toEqual(['2026-11-20T20:58:00Z', '2026-11-20T20:59:00Z']);
      expect(out.rejections).toEqual([]);
      expect(out.liveRow).toBe(time);
    }
  });

  it('uses the early close of the NYSE calendar: 13:00 New York the day after Thanksgiving', () => {
    const early = Date.parse('2026-11-27T18:00:00Z') / 1000;
    const text = lateBody([placeholder(early)], false);
    expect(chart(parseChart(text, { ...late, now: Date.parse('2026-11-27T18:05:00Z') })).liveRow).toBe(early);
  });

  it('keeps every other row: inside the session, with volume, not flat, or not the last one', () => {
    const closeBar = '2026-11-20T21:00:00Z';
    // The running minute of an open session may be flat and without volume yet: it is a bar.
    const flatLast = lateBody([], true).replace(',"volume":[412395,1893530]', ',"volume":[412395,0]').replace(/"(open|high|low|close)":\[([^,]+),[^\]]+\]/g, '"$1":[$2,228.5]');
    expect(flatLast).toContain('"close":[228.5500030517578,228.5],"volume":[412395,0],"open":[228.52000427246094,228.5]');
    const inSession = chart(parseChart(flatLast, late));
    expect(inSession.bars.map((b) => b.openTime)).toEqual(['2026-11-20T20:58:00Z', '2026-11-20T20:59:00Z']);
    expect(inSession.liveRow).toBeUndefined();
    expect(openTimes(parseChart(lateBody([placeholder(CLOSE, '15')]), late))).toContain(closeBar);
    expect(openTimes(parseChart(lateBody([placeholder(CLOSE), { time: CLOSE + 60, price: '228.8000030517578', volume: '100' }]), late))).toEqual([
      '2026-11-20T20:58:00Z', '2026-11-20T20:59:00Z', closeBar, '2026-11-20T21:01:00Z',
    ]);
    const notFlat = lateBody([placeholder(CLOSE)]).replace('"high":[228.60000610351562,228.74000549316406,228.69000244140625]', '"high":[228.60000610351562,228.74000549316406,228.8000030517578]');
    expect(notFlat).toContain('228.8000030517578');
    expect(openTimes(parseChart(notFlat, late))).toContain(closeBar);
  });
});

describe('plainDecimal', () => {
  it('writes exponent forms out exactly and leaves plain ones alone', () => {
    expectMapped(plainDecimal, [
      ['189.83999633789062', '189.83999633789062'], ['1.5E2', '150'], ['1.25e1', '12.5'], ['2e-7', '0.0000002'], ['1.2345678e-3', '0.0012345678'],
      ['-3.5E+3', '-3500'], ['1e400', '1e400'],
    ]);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { startFakeYahoo, type FakeYahoo } from './yahoo.js';
import { fetchText, shape } from './contract-testing.js';

/**
 * Contract: what the fake serves has the shape of recorded Yahoo chart responses (Yahoo publishes no
 * docs; these come from yahoo-finance2's recorded fixture chart-AAPL-2025-02-01-to-2025-02-02-interval-1m
 * and error bodies quoted in yfinance issues). Adapters tested against the fake then parse the real thing.
 */
const RECORDED = {
  meta: {
    currency: 'USD', symbol: 'AAPL', exchangeName: 'NMS', fullExchangeName: 'NasdaqGS', instrumentType: 'EQUITY',
    firstTradeDate: 345479400, regularMarketTime: 1739998801, hasPrePostMarketData: true, gmtoffset: -18000, timezone: 'EST',
    exchangeTimezoneName: 'America/New_York', regularMarketPrice: 244.87, fiftyTwoWeekHigh: 260.1, fiftyTwoWeekLow: 164.08,
    regularMarketDayHigh: 246.01, regularMarketDayLow: 243.16, regularMarketVolume: 32129951, longName: 'Apple Inc.',
    shortName: 'Apple Inc.', chartPreviousClose: 236, previousClose: 244.47, scale: 3, priceHint: 2,
    currentTradingPeriod: {
      pre: { timezone: 'EST', start: 1740042000, end: 1740061800, gmtoffset: -18000 },
      regular: { timezone: 'EST', start: 1740061800, end: 1740085200, gmtoffset: -18000 },
      post: { timezone: 'EST', start: 1740085200, end: 1740099600, gmtoffset: -18000 },
    },
    dataGranularity: '1m', range: '', validRanges: ['1d', '5d', '1mo', '3mo', '6mo', '1y', '2y', '5y', '10y', 'ytd', 'max'],
  },
  // Intraday results also carry tradingPeriods: one array of sessions per day.
  tradingPeriods: [[{ timezone: 'EST', start: 1740061800, end: 1740085200, gmtoffset: -18000 }]],
  // A window without minutes (that fixture: a weekend) has no timestamp and an empty quote.
  emptyIndicators: { quote: [{}] },
  notFound: { chart: { result: null, error: { code: 'Not Found', description: 'No data found, symbol may be delisted' } } },
  tooLong: /^1m data not available for startTime=\d+ and endTime=\d+\. Only 7 days worth of 1m granularity data are allowed to be fetched per request\.$/,
};

let fake: FakeYahoo | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const get = (path: string) => fetchText(`${fake!.chartUrl}${path}`);

interface ChartBody {
  chart: {
    result: { meta: Record<string, unknown> & { tradingPeriods: unknown }; timestamp?: number[]; indicators: { quote: Record<string, (number | null)[]>[] } }[];
    error: null;
  };
}

describe('fake Yahoo speaks the chart API as recorded', () => {
  it('serves 1m charts with meta, timestamps and quote arrays in the recorded shape', async () => {
    // Null minutes follow from the clock: at the default share (8 %) one hour in about 150 has none, so this
    // test asks for more of them (P(none in 60 minutes) = 0.7^60, about 5e-10).
    fake = await startFakeYahoo({ seed: 1, symbols: ['AAPL'], nullMinuteShare: 0.3 });
    const now = Math.floor(Date.now() / 1000);
    const { status, headers, text } = await get(`/AAPL?interval=1m&period1=${now - 3600}&period2=${now + 60}`);
    const after = Math.floor(Date.now() / 1000);
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    const body = JSON.parse(text) as ChartBody;
    const [result] = body.chart.result;
    const { tradingPeriods, ...meta } = result!.meta;
    expect(shape(meta)).toEqual(shape(RECORDED.meta));
    expect(shape(tradingPeriods)).toEqual(shape(RECORDED.tradingPeriods));
    expect(body.chart.error).toBeNull();
    const quote = result!.indicators.quote[0]!;
    expect(Object.keys(quote).sort()).toEqual(['close', 'high', 'low', 'open', 'volume']);
    const timestamps = result!.timestamp!;
    expect(timestamps.length).toBeGreaterThanOrEqual(59);
    for (const key of Object.keys(quote)) expect(quote[key]!.length, key).toBe(timestamps.length);
    // Minute starts, in order, inside the window; the last one is the minute still running.
    expect(timestamps.every((t, i) => t % 60 === 0 && (i === 0 || t === timestamps[i - 1]! + 60))).toBe(true);
    expect(timestamps[0]).toBeGreaterThanOrEqual(now - 3600);
    expect(timestamps.at(-1)).toBeGreaterThanOrEqual(Math.floor(now / 60) * 60);
    expect(timestamps.at(-1)).toBeLessThanOrEqual(Math.floor(after / 60) * 60);
    // Minutes without trades are nulls in every array; prices carry float32 artefacts as numbers.
    expect(quote.close!.some((v) => v === null)).toBe(true);
    const raw = text.match(/"close":\[([^\]]*)\]/)![1]!.split(',');
    expect(raw.some((v) => /^\d+\.\d{10,}$/.test(v))).toBe(true);
    expect(raw.every((v) => v === 'null' || /^\d+(\.\d+)?$/.test(v))).toBe(true);
    // The meta price is the last trade, the close of the newest non-null entry.
    expect(result!.meta.regularMarketPrice).toBe(quote.close!.filter((v) => v !== null).at(-1));
  });

  it('answers a window without minutes, an unknown symbol and too long a range like Yahoo', async () => {
    fake = await startFakeYahoo({ symbols: ['AAPL'] });
    const now = Math.floor(Date.now() / 1000);
    const future = await get(`/AAPL?interval=1m&period1=${now + 600}&period2=${now + 1200}`);
    const empty = (JSON.parse(future.text) as ChartBody).chart.result[0]!;
    expect(empty.timestamp).toBeUndefined();
    expect(empty.indicators).toEqual(RECORDED.emptyIndicators);

    const unknown = await get(`/NOPE?interval=1m&period1=${now - 600}&period2=${now}`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toEqual(RECORDED.notFound);

    const long = await get(`/AAPL?interval=1m&period1=${now - 9 * 86_400}&period2=${now}`);
    expect(long.status).toBe(422);
    const error = (JSON.parse(long.text) as { chart: { result: null; error: { code: string; description: string } } }).chart.error;
    expect(error.code).toBe('Unprocessable Entity');
    expect(error.description).toMatch(RECORDED.tooLong);

    const old = await get(`/AAPL?interval=1m&period1=${now - 40 * 86_400}&period2=${now - 39 * 86_400}`);
    expect(old.status).toBe(422);

    const byRange = await get('/AAPL?interval=1m&range=1d');
    expect((JSON.parse(byRange.text) as ChartBody).chart.result[0]!.timestamp!.length).toBeGreaterThan(1000);
    // Symbols are path segments: BRK-B as Yahoo names it.
    fake.controls.reset();
  });

  it('makes bars a pure function of seed, symbol and minute, with the running minute still forming', async () => {
    const a = await startFakeYahoo({ seed: 3, symbols: ['BRK-B'] });
    const b = await startFakeYahoo({ seed: 3, symbols: ['BRK-B'] });
    const c = await startFakeYahoo({ seed: 4, symbols: ['BRK-B'] });
    try {
      const to = Math.floor(Date.now() / 60_000) * 60_000;
      const from = to - 30 * 60_000;
      const barsA = a.bars('BRK-B', from, to);
      expect(barsA).toHaveLength(30);
      expect(b.bars('BRK-B', from, to)).toEqual(barsA);
      expect(c.bars('BRK-B', from, to)).not.toEqual(barsA);
      // What the server sends is what bars() says.
      const response = await fetch(`${a.chartUrl}/BRK-B?interval=1m&period1=${from / 1000}&period2=${to / 1000}`);
      const body = (await response.json()) as ChartBody;
      const quote = body.chart.result[0]!.indicators.quote[0]!;
      expect(body.chart.result[0]!.timestamp).toEqual(barsA.map((x) => x.time));
      expect(quote.close!.map((v) => (v === null ? null : JSON.stringify(v)))).toEqual(barsA.map((x) => x.close));
      expect(quote.volume!.map((v) => (v === null ? null : String(v)))).toEqual(barsA.map((x) => x.volume));
      // A minute read while it runs differs from the same minute once closed (for some minute of the last 30).
      const changed = barsA.filter((bar) => {
        const forming = a.bars('BRK-B', bar.time * 1000, bar.time * 1000 + 60_000, bar.time * 1000 + 20_000)[0]!;
        return !forming.final && bar.final && forming.close !== null && (forming.close !== bar.close || forming.volume !== bar.volume);
      });
      expect(changed.length).toBeGreaterThan(10);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('answers 429 with and without Retry-After, 503 in an outage, refuses connections, stalls', async () => {
    fake = await startFakeYahoo({ symbols: ['AAPL'] });
    fake.controls.force429({ retryAfterSeconds: 2 });
    const first = await get('/AAPL?interval=1m&range=1d');
    expect([first.status, first.headers.get('retry-after'), first.text]).toEqual([429, '2', 'Too Many Requests\r\n']);
    fake.controls.force429();
    const second = await get('/AAPL?interval=1m&range=1d');
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, null]);
    expect((await get('/AAPL?interval=1m&range=1d')).status).toBe(200);

    await fake.controls.outage(300);
    expect((await get('/AAPL?interval=1m&range=1d')).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await get('/AAPL?interval=1m&range=1d')).status).toBe(200);

    await fake.controls.outage(300, { mode: 'refuse' });
    await expect(fetch(`${fake.chartUrl}/AAPL?interval=1m&range=1d`)).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await get('/AAPL?interval=1m&range=1d')).status).toBe(200);

    fake.controls.stall();
    const stalled = await fetch(`${fake.chartUrl}/AAPL?interval=1m&range=1d`, { signal: AbortSignal.timeout(300) }).then(
      () => 'answered',
      (error: Error) => error.name,
    );
    expect(stalled).toBe('TimeoutError');
    expect(fake.stats.stalled).toBe(1);
  });

  it('serves each malformed kind once, then normal responses', async () => {
    fake = await startFakeYahoo({ symbols: ['AAPL'] });
    fake.controls.malformed(['not_json', 'html', 'ragged_arrays', 'bad_bar', 'bad_price', 'future_time']);
    const texts: string[] = [];
    for (let i = 0; i < 7; i++) texts.push((await get('/AAPL?interval=1m&range=1d')).text);
    expect(() => JSON.parse(texts[0]!)).toThrow();
    expect(texts[1]).toMatch(/^<!DOCTYPE html>/);
    const [ragged, badBar, badPrice, future, normal] = texts.slice(2).map((t) => (JSON.parse(t) as ChartBody).chart.result[0]!);
    expect(ragged!.indicators.quote[0]!.close!.length).toBe(ragged!.timestamp!.length - 1);
    expect(badBar!.indicators.quote[0]!.high!.some((h, i) => h !== null && h < badBar!.indicators.quote[0]!.low![i]!)).toBe(true);
    expect(badPrice!.meta.regularMarketPrice).toBe(-1.5);
    expect(future!.meta.regularMarketTime).toBeGreaterThan(Date.now() / 1000 + 3600);
    expect(normal!.indicators.quote[0]!.close!.length).toBe(normal!.timestamp!.length);
    expect(fake.stats.malformedSent).toBe(6);
  });
});

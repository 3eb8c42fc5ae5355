import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeBinance, type FakeBinance } from './binance.js';
import { expectSeededTrades, fetchJson, shape } from './contract-testing.js';

/**
 * Contract: what the fake sends has the shape (keys and value types) of Binance's documented
 * examples (../shared/reference/feeds.md; developers.binance.com spot docs: web-socket-streams,
 * rest-api market data endpoints). Adapters tested against the fake then parse the real thing.
 */
const DOCUMENTED = {
  // web-socket-streams: Trade Streams (combined streams wrap it as {"stream":..,"data":..}).
  tradeFrame: { stream: 'bnbbtc@trade', data: { e: 'trade', E: 1672515782136, s: 'BNBBTC', t: 12345, p: '0.001', q: '100', T: 1672515782136, m: true, M: true } },
  // rest-api: Kline/Candlestick data.
  klineRow: [1499040000000, '0.01634790', '0.80000000', '0.01575800', '0.01577100', '148976.11427815', 1499644799999, '2434.19055334', 308, '1756.87402397', '28.46694368', '0'],
  // rest-api: Old trade lookup (and Recent trades list).
  tradeRow: { id: 28457, price: '4.00000100', qty: '12.00000000', quoteQty: '48.000012', time: 1499865549590, isBuyerMaker: true, isBestMatch: true },
  // rest-api: Compressed/Aggregate trades list.
  aggTradeRow: { a: 26129, p: '0.01633102', q: '4.70443515', f: 27781, l: 27781, T: 1498793709153, m: true, M: true },
  // errors: -1121 Invalid symbol.
  error: { code: -1121, msg: 'Invalid symbol.' },
  // rest-api: Exchange information (the fields adapters read).
  exchangeInfoSymbol: { symbol: 'ETHBTC', status: 'TRADING', baseAsset: 'ETH', baseAssetPrecision: 8, quoteAsset: 'BTC', quotePrecision: 8, quoteAssetPrecision: 8 },
};

let fake: FakeBinance | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const get = (path: string) => fetchJson(`${fake!.restUrl}${path}`);

describe('fake Binance speaks the documented wire formats', () => {
  it('combined-stream trade frames', async () => {
    fake = await startFakeBinance({ symbols: ['BTCUSDT'], tradesPerSecond: 20, historyMs: 60_000 });
    const ws = new WebSocket(`${fake.wsUrl}/stream?streams=btcusdt@trade`);
    const frame = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(data.toString()));
      ws.once('error', reject);
    });
    ws.close();
    const parsed = JSON.parse(frame) as { stream: string; data: { s: string; p: string; q: string } };
    expect(shape(parsed, 'every')).toEqual(shape(DOCUMENTED.tradeFrame, 'every'));
    expect(parsed.stream).toBe('btcusdt@trade');
    expect(parsed.data.s).toBe('BTCUSDT');
    expect(parsed.data.p).toMatch(/^\d+\.\d{8}$/);
    expect(parsed.data.q).toMatch(/^\d+\.\d{8}$/);
  });

  it('raw streams and SUBSCRIBE / LIST_SUBSCRIPTIONS', async () => {
    fake = await startFakeBinance({ symbols: ['BTCUSDT', 'ETHUSDT'], tradesPerSecond: 20, historyMs: 60_000 });
    const ws = new WebSocket(`${fake.wsUrl}/ws/btcusdt@trade`);
    const messages: unknown[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['ethusdt@trade'], id: 1 }));
    ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 3 }));
    // Trades are random in time: wait until both streams have delivered one (or give up after 5 s).
    const symbolsSeen = () => new Set(messages.flatMap((m) => (typeof m === 'object' && m !== null && 's' in m ? [(m as { s: string }).s] : []))).size;
    for (let waited = 0; symbolsSeen() < 2 && waited < 5000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    ws.close();
    expect(messages).toContainEqual({ result: null, id: 1 });
    expect(messages).toContainEqual({ result: ['btcusdt@trade', 'ethusdt@trade'], id: 3 });
    const trades = messages.filter((m): m is { e: string; s: string } => typeof m === 'object' && m !== null && 'e' in m);
    expect(shape(trades[0], 'every')).toEqual(shape(DOCUMENTED.tradeFrame.data, 'every'));
    expect(new Set(trades.map((t) => t.s))).toEqual(new Set(['BTCUSDT', 'ETHUSDT']));
  });

  it('historicalTrades, aggTrades and klines rows, with the used-weight header', async () => {
    fake = await startFakeBinance({ symbols: ['BTCUSDT'] });
    const trades = await get('/api/v3/historicalTrades?symbol=BTCUSDT&limit=5');
    expect(trades.status).toBe(200);
    expect(trades.headers.get('x-mbx-used-weight-1m')).toBe('25');
    expect((trades.body as unknown[]).length).toBe(5);
    for (const row of trades.body as unknown[]) expect(shape(row, 'every')).toEqual(shape(DOCUMENTED.tradeRow, 'every'));

    const first = (trades.body as { id: number }[])[0]!.id;
    const from = await get(`/api/v3/historicalTrades?symbol=BTCUSDT&fromId=${first}&limit=3`);
    expect((from.body as { id: number }[]).map((r) => r.id)).toEqual([first, first + 1, first + 2]);

    const agg = await get(`/api/v3/aggTrades?symbol=BTCUSDT&startTime=${Date.now() - 60_000}&limit=2`);
    expect(agg.headers.get('x-mbx-used-weight-1m')).toBe('54');
    for (const row of agg.body as unknown[]) expect(shape(row, 'every')).toEqual(shape(DOCUMENTED.aggTradeRow, 'every'));

    const klines = await get('/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3');
    expect((klines.body as unknown[]).length).toBe(3);
    for (const row of klines.body as unknown[]) expect(shape(row, 'every')).toEqual(shape(DOCUMENTED.klineRow, 'every'));
    const [open, , , , , , close] = (klines.body as number[][])[0]!;
    expect(close! - open!).toBe(59_999);
  });

  it('exchangeInfo, ping, time and error bodies', async () => {
    fake = await startFakeBinance({ symbols: ['ETHBTC', 'BTCFDUSD'] });
    const info = await get('/api/v3/exchangeInfo');
    const symbols = (info.body as { symbols: Record<string, unknown>[] }).symbols;
    for (const s of symbols) {
      const picked = Object.fromEntries(Object.keys(DOCUMENTED.exchangeInfoSymbol).map((k) => [k, s[k]]));
      expect(shape(picked, 'every')).toEqual(shape(DOCUMENTED.exchangeInfoSymbol, 'every'));
    }
    expect(symbols.map((s) => [s.symbol, s.baseAsset, s.quoteAsset])).toEqual([['ETHBTC', 'ETH', 'BTC'], ['BTCFDUSD', 'BTC', 'FDUSD']]);
    expect((await get('/api/v3/ping')).body).toEqual({});
    expect(shape((await get('/api/v3/time')).body, 'every')).toEqual({ serverTime: 'number' });

    const invalid = await get('/api/v3/historicalTrades?symbol=NOPE');
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual(DOCUMENTED.error);
    const missing = await get('/api/v3/klines?symbol=ETHBTC');
    expect(missing.status).toBe(400);
    expect(shape(missing.body, 'every')).toEqual(shape(DOCUMENTED.error, 'every'));
    expect((await get('/api/v3/klines?symbol=ETHBTC&interval=7m')).body).toEqual({ code: -1120, msg: 'Invalid interval.' });
  });

  it('answers 429 with Retry-After over the weight limit, then 418 to a client that keeps asking', async () => {
    fake = await startFakeBinance({ symbols: ['BTCUSDT'], weightPerMinute: 60, violationsBeforeBan: 2 });
    // Weight is counted per calendar minute: keep the five requests inside one.
    if (Date.now() % 60_000 > 58_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - (Date.now() % 60_000) + 50));
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${fake.restUrl}/api/v3/historicalTrades?symbol=BTCUSDT&limit=1`);
      statuses.push(response.status);
      retryAfter ??= response.headers.get('retry-after');
      await response.body?.cancel();
    }
    // 25 + 25 fit in 60; the third is over; asking again during Retry-After is a violation; the second one bans.
    expect(statuses).toEqual([200, 200, 429, 429, 418]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
  });

  it('sendGarbage: the bytes asked for, every frame something a client must reject, trades still between them', async () => {
    // 200 trades/s: the burst (at least a timer turn per 64 frames) spans several pushes, each with trades due.
    fake = await startFakeBinance({ symbols: ['BTCUSDT'], tradesPerSecond: 200, historyMs: 60_000 });
    const ws = new WebSocket(`${fake.wsUrl}/stream?streams=btcusdt@trade`);
    const frames: { text: string; binary: boolean; bytes: number }[] = [];
    ws.on('message', (data: Buffer, binary) => frames.push({ text: data.toString('utf8'), binary, bytes: data.length }));
    await new Promise((resolve) => ws.once('open', resolve));
    const report = await fake.controls.sendGarbage({ bytes: 4 << 20 });
    // Anything that is not a well-formed trade of the subscribed symbol is garbage.
    const isTrade = (f: { text: string; binary: boolean }) => {
      if (f.binary) return false;
      try {
        const { stream, data } = JSON.parse(f.text) as { stream: string; data: Record<string, unknown> };
        return stream === 'btcusdt@trade' && data.e === 'trade' && data.s === 'BTCUSDT' && Number.isSafeInteger(data.t) && (data.t as number) >= 0 &&
          /^\d+\.\d{8}$/.test(String(data.p)) && Number(data.p) > 0 && /^\d+\.\d{8}$/.test(String(data.q)) && typeof data.T === 'number' && !('x' in data);
      } catch {
        return false;
      }
    };
    for (let waited = 0; frames.filter((f) => !isTrade(f)).length < report.frames && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    ws.close();
    const garbage = frames.filter((f) => !isTrade(f));
    expect(report.connections).toBe(1);
    expect(report.bytes).toBeGreaterThanOrEqual(4 << 20);
    expect(garbage.length).toBe(report.frames);
    expect(garbage.reduce((n, f) => n + f.bytes, 0)).toBe(report.bytes);
    expect(garbage.filter((f) => f.bytes > 64 * 1024).length).toBeGreaterThan(0);
    expect(garbage.filter((f) => f.binary).length).toBeGreaterThan(0);
    // Trades kept flowing during the burst: some arrived between the first and the last garbage frame.
    const first = frames.findIndex((f) => !isTrade(f));
    const last = frames.length - 1 - [...frames].reverse().findIndex((f) => !isTrade(f));
    expect(frames.slice(first, last).some(isTrade)).toBe(true);
  });

  it('makes trades a pure function of seed, symbol and time', async () => {
    const ta = await expectSeededTrades(
      (seed, historyMs) => startFakeBinance({ seed, symbols: ['BTCUSDT'], historyMs }),
      (fake, from, to) => fake.trades('BTCUSDT', from, to),
      ({ time, price, qty }) => ({ time, price, qty }),
    );
    // Ids are numeric and increase by one per trade.
    expect(ta.every((t, i) => i === 0 || t.id === ta[i - 1]!.id + 1)).toBe(true);
  });
});

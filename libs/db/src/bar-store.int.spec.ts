import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Bar, type Tick, type Timeframe } from '@tickvault/schema';
import { writeTickBatch, type WriteSettings } from './tick-store.js';
import { verifyCandles } from './verify.js';
import { migrate } from './migrate.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number>;
const settings: WriteSettings = { candleKeep: keep };

let seen = Date.parse('2026-03-02T12:00:00Z');
function bar(openTime: string, o: string, h: string, l: string, c: string, v: string, n: number | null = 3, symbol = 'AAPL', seenAt?: string): Bar {
  // Each bar made later counts as received later, unless the test says when.
  seenAt ??= new Date((seen += 1000)).toISOString();
  return { source: 'alpaca', symbol, assetClass: 'stock', openTime, open: o, high: h, low: l, close: c, volume: v, tradeCount: n, seenAt };
}
function trade(ts: string, price: string, size: string, tradeId: string, symbol = 'AAPL'): Tick {
  return { source: 'alpaca', symbol, assetClass: 'stock', ts, price, size, tradeId };
}
function point(date: string, value: string, symbol = 'DGS10'): Tick {
  return { source: 'fred', symbol, assetClass: 'macro', ts: `${date}T00:00:00Z`, price: value, size: '0', tradeId: null };
}

describe('provider bars and macro revisions', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function candle(source: string, symbol: string, timeframe: Timeframe, openTime: string) {
    const [row] = await db.sql`
      select open::text, high::text, low::text, close::text, volume::text, trade_count, from_bar
      from candles where source = ${source} and symbol = ${symbol} and timeframe = ${timeframe} and open_time = ${openTime}`;
    return row;
  }

  it('a bar is its minute candle; a correction replaces it and larger candles follow, lower high included', async () => {
    const first = await writeTickBatch(db.sql, { ticks: [], bars: [
      bar('2026-03-02T15:30:00Z', '100.10', '101.00', '99.50', '100.80', '1200', 7),
      bar('2026-03-02T15:31:00Z', '100.80', '100.90', '100.20', '100.30', '800', 5),
    ], rejections: [] }, settings);
    expect(first.barsWritten).toBe(2);
    expect(await candle('alpaca', 'AAPL', '5m', '2026-03-02T15:30:00Z')).toMatchObject({
      open: '100.10', high: '101.00', low: '99.50', close: '100.30', volume: '2000', trade_count: 12,
    });
    const resent = await writeTickBatch(db.sql, { ticks: [], bars: [bar('2026-03-02T15:31:00Z', '100.80', '100.90', '100.20', '100.30', '800', 5)], rejections: [] }, settings);
    expect(resent.barsWritten).toBe(0);
    // updatedBars: the 15:30 bar corrected downwards (a late print removed the 101.00 high).
    await writeTickBatch(db.sql, { ticks: [], bars: [bar('2026-03-02T15:30:00Z', '100.10', '100.60', '99.50', '100.80', '1150', 6)], rejections: [] }, settings);
    expect(await candle('alpaca', 'AAPL', '1m', '2026-03-02T15:30:00Z')).toMatchObject({ high: '100.60', volume: '1150', trade_count: 6, from_bar: true });
    for (const tf of ['5m', '15m', '1h', '4h', '1d'] as const) {
      const openTime = tf === '1d' ? '2026-03-02T00:00:00Z' : tf === '4h' ? '2026-03-02T12:00:00Z' : tf === '1h' ? '2026-03-02T15:00:00Z' : '2026-03-02T15:30:00Z';
      expect(await candle('alpaca', 'AAPL', tf, openTime)).toMatchObject({ open: '100.10', high: '100.90', low: '99.50', close: '100.30', volume: '1950', trade_count: 11 });
    }
  });

  it('trades of a bar minute are stored but not counted again, before or after the bar arrives', async () => {
    // A trade that arrives before its minute's bar is folded first; the bar then replaces the minute.
    await writeTickBatch(db.sql, { ticks: [trade('2026-03-02T15:32:10Z', '100.40', '10', 'V-1')], rejections: [] }, settings);
    expect(await candle('alpaca', 'AAPL', '5m', '2026-03-02T15:30:00Z')).toMatchObject({ volume: '1960', close: '100.40' });
    await writeTickBatch(db.sql, { ticks: [], bars: [bar('2026-03-02T15:32:00Z', '100.40', '100.50', '100.35', '100.45', '30', 2)], rejections: [] }, settings);
    // One that arrives after (a late or resent trade) is stored and ignored by the candles.
    const late = await writeTickBatch(db.sql, { ticks: [trade('2026-03-02T15:32:40Z', '100.45', '20', 'V-2')], rejections: [] }, settings);
    expect(late.ticksInserted).toBe(1);
    expect(await candle('alpaca', 'AAPL', '1m', '2026-03-02T15:32:00Z')).toMatchObject({ volume: '30', close: '100.45', from_bar: true });
    expect(await candle('alpaca', 'AAPL', '5m', '2026-03-02T15:30:00Z')).toMatchObject({ volume: '1980', high: '100.90', close: '100.45', trade_count: 13 });
    // A minute with no bar still folds its trades.
    await writeTickBatch(db.sql, { ticks: [trade('2026-03-02T15:33:05Z', '100.70', '4', 'V-3')], rejections: [] }, settings);
    expect(await candle('alpaca', 'AAPL', '5m', '2026-03-02T15:30:00Z')).toMatchObject({ volume: '1984', close: '100.70', trade_count: 14 });
    const verified = await verifyCandles(db.sql, { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T00:00:00Z'), source: 'alpaca' });
    expect(verified.mismatches).toEqual([]);
  });

  it('concurrent bar corrections and trades on one series leave consistent candles', async () => {
    const minute = (m: number) => `2026-03-02T16:${String(m).padStart(2, '0')}:00Z`;
    const writes: Promise<unknown>[] = [];
    for (let round = 0; round < 6; round++) {
      for (let m = 0; m < 5; m++) {
        writes.push(writeTickBatch(db.sql, { ticks: [trade(minute(m).replace(':00Z', `:${String(10 + round).padStart(2, '0')}Z`), '50.5', '1', `C-${round}-${m}`, 'MSFT')], rejections: [] }, settings));
        writes.push(writeTickBatch(db.sql, { ticks: [], bars: [bar(minute(m), '50', String(51 + round), '49', '50.5', String(100 + round), 10 + round, 'MSFT')], rejections: [] }, settings));
      }
    }
    await Promise.all(writes);
    expect(await candle('alpaca', 'MSFT', '5m', minute(0))).toMatchObject({ high: '56', volume: '525', trade_count: 75 });
  });

  it('an older version of a bar committed after a newer one changes nothing', async () => {
    const t = '2026-03-02T17:00:00Z';
    const original = bar(t, '10', '11', '9', '10.5', '100', 10, 'IBM', '2026-03-02T17:01:00.000Z');
    const correction = bar(t, '10', '11.5', '9', '10.5', '130', 12, 'IBM', '2026-03-02T17:01:30.000Z');
    await writeTickBatch(db.sql, { ticks: [], bars: [correction], rejections: [] }, settings);
    const late = await writeTickBatch(db.sql, { ticks: [], bars: [original], rejections: [] }, settings);
    expect(late.barsWritten).toBe(0);
    expect(await candle('alpaca', 'IBM', '1m', t)).toMatchObject({ high: '11.5', volume: '130', trade_count: 12 });
    expect(await candle('alpaca', 'IBM', '1h', t)).toMatchObject({ volume: '130' });
  });

  it('a late trade for a bar minute is not counted again after 1m retention trimmed that bar', async () => {
    const tight: WriteSettings = { candleKeep: { ...keep, '1m': 2 } };
    const minute = (m: number) => `2026-03-02T18:0${m}:00Z`;
    await writeTickBatch(db.sql, { ticks: [], bars: [bar(minute(0), '20', '21', '19', '20', '5', 1, 'ORCL')], rejections: [] }, tight);
    for (const m of [1, 2, 3]) {
      await writeTickBatch(db.sql, { ticks: [trade(minute(m).replace(':00Z', ':10Z'), '20', '1', `O-${m}`, 'ORCL')], rejections: [] }, tight);
    }
    expect(await candle('alpaca', 'ORCL', '1m', minute(0))).toBeUndefined();
    const late = await writeTickBatch(db.sql, { ticks: [trade(minute(0).replace(':00Z', ':30Z'), '20', '3', 'O-late', 'ORCL')], rejections: [] }, tight);
    expect(late.ticksInserted).toBe(1);
    expect(await candle('alpaca', 'ORCL', '1h', '2026-03-02T18:00:00Z')).toMatchObject({ volume: '8' });
  });

  it('verify finds nothing wrong with bar-only series or with bar series behind their 1m cutoff', async () => {
    const verified = await verifyCandles(db.sql, { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T00:00:00Z'), source: 'alpaca' });
    expect(verified.mismatches).toEqual([]);
    expect(verified.checked).toBeGreaterThan(0);
  });

  it('macro points: a revision overwrites the value and every candle over it; a resend changes nothing', async () => {
    const first = await writeTickBatch(db.sql, { ticks: [point('2026-03-02', '4.10'), point('2026-03-03', '4.20'), point('2026-03-04', '4.05')], rejections: [] }, settings);
    expect(first.pointsChanged).toBe(3);
    expect(await candle('fred', 'DGS10', '1M', '2026-03-01T00:00:00Z')).toMatchObject({ open: '4.10', high: '4.20', low: '4.05', close: '4.05', trade_count: 3 });
    const same = await writeTickBatch(db.sql, { ticks: [point('2026-03-03', '4.20')], rejections: [] }, settings);
    expect(same.pointsChanged).toBe(0);
    const revised = await writeTickBatch(db.sql, { ticks: [point('2026-03-03', '4.15')], rejections: [] }, settings);
    expect(revised.pointsChanged).toBe(1);
    const [stored] = await db.sql`select price::text from ticks where source = 'fred' and ts = '2026-03-03T00:00:00Z'`;
    expect(stored?.price).toBe('4.15');
    expect(await candle('fred', 'DGS10', '1M', '2026-03-01T00:00:00Z')).toMatchObject({ high: '4.15', trade_count: 3 });
    expect(await candle('fred', 'DGS10', '1w', '2026-03-02T00:00:00Z')).toMatchObject({ open: '4.10', high: '4.15', close: '4.05' });
    expect(await candle('fred', 'DGS10', '1d', '2026-03-03T00:00:00Z')).toMatchObject({ open: '4.15', close: '4.15' });
    const verified = await verifyCandles(db.sql, { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-04-01T00:00:00Z'), source: 'fred' });
    expect(verified.mismatches).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { migrate } from './migrate.js';
import { readCandles, readLatest, readTicks } from './read-api.js';
import { seriesStats } from './report.js';
import { trimExpired } from './retention.js';
import { writeTickBatch, type WriteSettings } from './tick-store.js';

const settings: WriteSettings = { candleKeep: Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number> };
const DAY = 86_400_000;
const trade = (symbol: string, ts: string, tradeId: string, price: string): Tick => ({ source: 'sim', symbol, assetClass: 'crypto', ts, price, size: '1', tradeId });

describe('read API (real Postgres)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('orders trades of one instant as candles do, so the latest price is the candle close', async () => {
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000);
    const ts = new Date(minute.getTime() + 5_000).toISOString();
    // "999" sorts after "1000" as text; as trade ids it comes first.
    await writeTickBatch(db.sql, { ticks: [trade('ORD/USDT', ts, '1000', '2.5'), trade('ORD/USDT', ts, '999', '1.5')], rejections: [] }, settings);
    const { candles: [candle] } = await readCandles(db.sql, { source: 'sim', symbol: 'ORD/USDT', timeframe: '1m', limit: 1 });
    expect(candle).toMatchObject({ open: '1.5', close: '2.5' });

    const [latest] = await readLatest(db.sql, [{ source: 'sim', symbol: 'ORD/USDT' }]);
    expect(latest!.lastTick).toMatchObject({ tradeId: '1000', price: candle!.close });

    const window = { source: 'sim', symbol: 'ORD/USDT', from: minute, to: new Date(minute.getTime() + 60_000), limit: 10 };
    const oldestFirst = await readTicks(db.sql, { ...window, newest: false });
    const newestPage = await readTicks(db.sql, { ...window, newest: true });
    expect(oldestFirst.ticks.map((t) => t.tradeId)).toEqual(['999', '1000']);
    expect(newestPage.ticks.map((t) => t.tradeId)).toEqual(['999', '1000']);
    // A page of one from the newest end is the close.
    expect((await readTicks(db.sql, { ...window, limit: 1, newest: true })).ticks.map((t) => t.tradeId)).toEqual(['1000']);
  });

  it('counts a series\' ticks from the kept counts: exact through resends, folds and dropped days', async () => {
    const today = Math.floor(Date.now() / DAY) * DAY;
    const ticks = [3, 2, 1].flatMap((daysAgo) =>
      Array.from({ length: 100 * daysAgo }, (_, i) => trade('CNT/USDT', new Date(today - daysAgo * DAY + i * 1000).toISOString(), `${daysAgo}-${i}`, '1')));
    await writeTickBatch(db.sql, { ticks, rejections: [] }, settings);
    // A resend stores nothing and counts nothing.
    await writeTickBatch(db.sql, { ticks: ticks.slice(0, 250), rejections: [] }, settings);
    const count = async () => (await seriesStats(db.sql, [{ source: 'sim', symbol: 'CNT/USDT' }]))[0]!.tickCount;
    expect(await count()).toBe(600);

    // Retention drops the oldest day (300 trades): the count follows exactly, and says so.
    const trimmed = await trimExpired(db.sql, { byAssetClass: { crypto: new Date(today - 2 * DAY), stock: new Date(today - 2 * DAY), macro: new Date(0) } });
    expect(trimmed.ticksDeleted).toBe(300);
    expect(await count()).toBe(300);
    const [actual] = await db.sql`select count(*)::int as n from ticks where symbol = 'CNT/USDT'`;
    expect(actual!.n).toBe(300);
  });
});

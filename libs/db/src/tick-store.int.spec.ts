import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { writeTickBatch, type WriteSettings } from './tick-store.js';
import { verifyCandles } from './verify.js';
import { migrate } from './migrate.js';
import { trimExpired } from './retention.js';
import { recordEvents } from './events.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number>;
const settings: WriteSettings = { candleKeep: keep };

function trade(ts: string, price: string, size: string, tradeId: string | null, symbol = 'BTC/USDT'): Tick {
  return { source: 'sim', symbol, assetClass: 'crypto', ts, price, size, tradeId };
}

const window = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-03T00:00:00Z') };

describe('writeTickBatch', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function candle(timeframe: Timeframe, openTime: string, symbol = 'BTC/USDT') {
    const [row] = await db.sql`
      select open::text, high::text, low::text, close::text, volume::text, trade_count
      from candles where source = 'sim' and symbol = ${symbol} and timeframe = ${timeframe} and open_time = ${openTime}`;
    return row;
  }

  it('stores ticks exactly as sent and builds every timeframe', async () => {
    const result = await writeTickBatch(
      db.sql,
      {
        ticks: [
          trade('2026-01-01T10:00:01.000Z', '100.10', '0.500', '1'),
          trade('2026-01-01T10:00:30.123456Z', '101.5000', '1.25', '2'),
          trade('2026-01-01T10:00:59.999Z', '99.9', '2', '3'),
        ],
        rejections: [],
      },
      settings,
    );
    expect(result.ticksInserted).toBe(3);
    expect(result.candlesCreated).toBe(6);
    const [tick] = await db.sql`select price::text, size::text, ts from ticks where trade_id = '2'`;
    expect(tick).toMatchObject({ price: '101.5000', size: '1.25' });
    const [micro] = await db.sql`select to_char(ts, 'US') as us from ticks where trade_id = '2'`;
    expect(micro!.us).toBe('123456');
    expect(await candle('1m', '2026-01-01T10:00:00Z')).toEqual({
      open: '100.10', high: '101.5000', low: '99.9', close: '99.9', volume: '3.750', trade_count: 3,
    });
    expect(await candle('4h', '2026-01-01T08:00:00Z')).toMatchObject({ open: '100.10', close: '99.9', trade_count: 3 });
    expect(await candle('1d', '2026-01-01T00:00:00Z')).toMatchObject({ volume: '3.750' });
  });

  it('changes nothing when the same batch is delivered again', async () => {
    const before = await db.sql`select * from candles order by timeframe, open_time`;
    const again = await writeTickBatch(
      db.sql,
      { ticks: [trade('2026-01-01T10:00:01.000Z', '100.10', '0.500', '1'), trade('2026-01-01T10:00:59.999Z', '99.9', '2', '3')], rejections: [] },
      settings,
    );
    expect(again.ticksInserted).toBe(0);
    expect(again.candlesWritten).toBe(0);
    const after = await db.sql`select * from candles order by timeframe, open_time`;
    expect(after).toEqual(before);
  });

  it('keeps open from the earliest and close from the latest tick when ticks arrive late', async () => {
    // Earlier than the stored open, and later than the stored close, delivered in reverse order.
    await writeTickBatch(db.sql, { ticks: [trade('2026-01-01T10:00:59.9995Z', '98', '1', '4')], rejections: [] }, settings);
    await writeTickBatch(db.sql, { ticks: [trade('2026-01-01T10:00:00.5Z', '97', '1', '0')], rejections: [] }, settings);
    expect(await candle('1m', '2026-01-01T10:00:00Z')).toEqual({
      open: '97', high: '101.5000', low: '97', close: '98', volume: '5.750', trade_count: 5,
    });
    const { mismatches, checked } = await verifyCandles(db.sql, window);
    expect(checked).toBeGreaterThan(0);
    expect(mismatches).toEqual([]);
  });

  it('orders same-instant trades by numeric trade id', async () => {
    const ts = '2026-01-01T11:00:00.000Z';
    await writeTickBatch(db.sql, { ticks: [trade(ts, '5', '1', '100'), trade(ts, '6', '1', '99')], rejections: [] }, settings);
    expect(await candle('1m', '2026-01-01T11:00:00Z')).toMatchObject({ open: '6', close: '5' });
  });

  it('records rejections once per job position', async () => {
    const rejection = {
      source: 'sim', symbol: 'BTC/USDT', reason: 'invalid_price' as const, detail: 'price: must be positive',
      sample: '{"price":"-1"}', origin: 'writer' as const, jobKey: 'ticks:1', position: 3,
    };
    expect((await writeTickBatch(db.sql, { ticks: [], rejections: [rejection] }, settings)).rejectionsRecorded).toBe(1);
    expect((await writeTickBatch(db.sql, { ticks: [], rejections: [rejection] }, settings)).rejectionsRecorded).toBe(0);
  });

  it('trims candles beyond the kept count and does not recreate them from late ticks', async () => {
    const small = { candleKeep: { ...keep, '1m': 10 } };
    const ticks: Tick[] = [];
    for (let minute = 0; minute < 15; minute++) {
      ticks.push(trade(`2026-01-02T00:${String(minute).padStart(2, '0')}:10.000Z`, `${10 + minute}`, '1', `m${minute}`, 'ETH/USDT'));
    }
    // One minute at a time, like a live feed: each new candle triggers a trim.
    for (const tick of ticks) await writeTickBatch(db.sql, { ticks: [tick], rejections: [] }, small);
    const [count] = await db.sql`select count(*)::int as n, min(open_time) as oldest from candles where symbol = 'ETH/USDT' and timeframe = '1m'`;
    expect(count!.n).toBe(10);
    expect(count!.oldest.toISOString()).toBe('2026-01-02T00:05:00.000Z');
    const late = await writeTickBatch(db.sql, { ticks: [trade('2026-01-02T00:01:30.000Z', '11', '1', 'late', 'ETH/USDT')], rejections: [] }, small);
    expect(late.ticksInserted).toBe(1);
    expect(late.candleUpdatesPastRetention).toBe(1);
    const [after] = await db.sql`select count(*)::int as n from candles where symbol = 'ETH/USDT' and timeframe = '1m'`;
    expect(after!.n).toBe(10);
    expect((await verifyCandles(db.sql, window)).mismatches).toEqual([]);
  });

  it('verify reports a candle that disagrees with its ticks', async () => {
    await db.sql`update candles set volume = volume + 1 where symbol = 'BTC/USDT' and timeframe = '5m'`;
    const { mismatches } = await verifyCandles(db.sql, window);
    expect(mismatches.map((m) => [m.timeframe, m.problem])).toContainEqual(['5m', 'different']);
    await db.sql`update candles set volume = volume - 1 where symbol = 'BTC/USDT' and timeframe = '5m'`;
  });
});

describe('recordEvents', () => {
  it('stores details as a JSON object, once per dedupe key', async () => {
    const db = await createTestDatabase(migrate);
    try {
      const event = { service: 'test', kind: 'probe', symbol: null, details: { a: 1 }, dedupeKey: 'events:1' };
      expect(await recordEvents(db.sql, [event, { ...event, dedupeKey: undefined }])).toBe(2);
      expect(await recordEvents(db.sql, [event])).toBe(0);
      const rows = await db.sql`select jsonb_typeof(details) as type, details->>'a' as a from system_events`;
      expect(rows).toEqual([{ type: 'object', a: '1' }, { type: 'object', a: '1' }]);
      // Hostile input quoted in details (a NUL) is kept as literal text instead of failing the insert.
      expect(await recordEvents(db.sql, [{ ...event, dedupeKey: 'events:2', details: { sample: `x${String.fromCharCode(0)}y`, path: 'a\\u0000' } }])).toBe(1);
      const [hostile] = await db.sql`select details->>'sample' as sample, details->>'path' as path from system_events where dedupe_key = 'events:2'`;
      expect(hostile).toEqual({ sample: 'x\\u0000y', path: 'a\\u0000' });
    } finally {
      await db.drop();
    }
  });
});

describe('trimExpired', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('deletes only ticks past their asset class horizon, in bounded chunks', async () => {
    const now = Date.now();
    const day = 86_400_000;
    const row = (assetClass: string, symbol: string, ts: Date) => ({ assetClass, symbol, ts });
    const rows = [
      ...Array.from({ length: 25 }, (_, i) => row('crypto', 'BTC/USDT', new Date(now - 10 * day - i * 1000))),
      ...Array.from({ length: 5 }, (_, i) => row('crypto', 'BTC/USDT', new Date(now - day - i * 1000))),
      ...Array.from({ length: 5 }, (_, i) => row('macro', 'DGS10', new Date(now - 30 * day - i * day))),
    ];
    for (const { assetClass, symbol, ts } of rows) {
      await db.sql`insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
        values ('sim', ${symbol}, ${assetClass}, ${ts}, 1, 1, ${String(ts.getTime())})`;
    }
    const horizons = {
      byAssetClass: { crypto: new Date(now - 7 * day), stock: new Date(now - 7 * day), macro: new Date(now - 3650 * day) },
    };
    const first = await trimExpired(db.sql, horizons, 10);
    expect(first).toMatchObject({ ticksDeleted: 10, more: true });
    await trimExpired(db.sql, horizons, 10);
    const last = await trimExpired(db.sql, horizons, 10);
    expect(last).toMatchObject({ ticksDeleted: 5, more: false });
    const left = await db.sql`select asset_class, count(*)::int as n from ticks group by 1 order by 1`;
    expect(left).toEqual([{ asset_class: 'crypto', n: 5 }, { asset_class: 'macro', n: 5 }]);
  });
});

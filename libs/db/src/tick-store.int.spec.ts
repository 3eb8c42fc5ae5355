import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { copyLines, writeTickBatch, type WriteSettings } from './tick-store.js';
import { verifyCandles } from './verify.js';
import { migrate } from './migrate.js';
import { createDb, type Sql } from './client.js';
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

describe('writeTickBatch: the COPY way and the probing way', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
  });
  afterAll(async () => {
    await db?.drop();
  });
  const at = (second: number) => new Date(Date.parse('2026-01-02T09:00:00Z') + second * 1000).toISOString();
  const run = (from: number, to: number, symbol = 'SOL/USDT') =>
    Array.from({ length: to - from }, (_, i) => trade(at(from + i), `${10 + ((from + i) % 7)}.5`, '0.25', String(1000 + from + i), symbol));

  it('copies trades newer than the series holds, probes the rest, and stores each once', async () => {
    const first = await writeTickBatch(db.sql, { ticks: run(0, 200), rejections: [] }, settings);
    expect(first).toMatchObject({ ticksInserted: 200, ticksCopied: 200 });
    // A resend of the tail, a tie at the newest stored instant, late trades and new ones, shuffled.
    const mixed = [...run(150, 260), trade(at(199), '11', '1', '999999', 'SOL/USDT'), ...run(0, 10).map((t) => ({ ...t, tradeId: `${t.tradeId}-late` }))];
    mixed.reverse();
    const second = await writeTickBatch(db.sql, { ticks: [...mixed, ...mixed.slice(0, 20)], rejections: [] }, settings);
    expect(second).toMatchObject({ ticksInserted: 60 + 1 + 10, ticksCopied: 60 });
    const [count] = await db.sql`select count(*)::int as n from ticks where symbol = 'SOL/USDT'`;
    expect(count!.n).toBe(271);
    const again = await writeTickBatch(db.sql, { ticks: mixed, rejections: [] }, settings);
    expect(again).toMatchObject({ ticksInserted: 0, ticksCopied: 0 });
    expect((await verifyCandles(db.sql, window)).mismatches).toEqual([]);
  });

  it('stores each trade once when concurrent writers get overlapping batches of one series', async () => {
    const batches = [run(0, 300, 'ADA/USDT'), run(100, 400, 'ADA/USDT'), run(0, 400, 'ADA/USDT'), run(350, 500, 'ADA/USDT')];
    const results = await Promise.all(batches.map((ticks) => writeTickBatch(db.sql, { ticks, rejections: [] }, settings)));
    expect(results.reduce((n, r) => n + r.ticksInserted, 0)).toBe(500);
    const [count] = await db.sql`select count(*)::int as n, count(distinct trade_id)::int as d from ticks where symbol = 'ADA/USDT'`;
    expect(count).toEqual({ n: 500, d: 500 });
    const [volume] = await db.sql`select sum(volume)::text as v, sum(trade_count)::int as c from candles where symbol = 'ADA/USDT' and timeframe = '1m'`;
    expect(volume).toEqual({ v: '125.00', c: 500 });
    expect((await verifyCandles(db.sql, window)).mismatches).toEqual([]);
  });

  it('takes the probing way when another transaction stores the same new trades first', async () => {
    const ticks = run(0, 50, 'DOT/USDT');
    // A connection of its own: the test database's pool may be small.
    const otherDb = createDb(db.url, { max: 1 });
    const other = await otherDb.reserve();
    try {
      await other`insert into series (source, symbol, asset_class) values ('sim', 'DOT/USDT', 'crypto')`;
      await other`select tv_ensure_tick_partitions('2026-01-02', '2026-01-02')`;
      await other`begin`;
      await other.unsafe(
        `insert into tick_rows (series_id, ts, trade_id, price, size)
         select (select id from series where symbol = 'DOT/USDT'), ts::timestamptz, trade_id, 1, 1
         from unnest($1::text[], $2::text[]) as t(ts, trade_id)`,
        [ticks.map((t) => t.ts), ticks.map((t) => t.tradeId)] as never[],
      );
      const writing = writeTickBatch(db.sql, { ticks, rejections: [] }, settings);
      // The COPY waits on the uncommitted rows' keys; once it does, the other transaction commits.
      for (;;) {
        const [waiting] = await db.sql`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query ilike 'copy tick_rows%'`;
        if (waiting!.n > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await other`commit`;
      expect(await writing).toMatchObject({ ticksInserted: 0, ticksCopied: 0 });
    } finally {
      other.release();
      await otherDb.end();
    }
    const [count] = await db.sql`select count(*)::int as n, sum(price)::int as p from ticks where symbol = 'DOT/USDT'`;
    expect(count).toEqual({ n: 50, p: 50 });
    // The connection that met the failed COPY keeps working.
    const more = await writeTickBatch(db.sql, { ticks: run(50, 80, 'DOT/USDT'), rejections: [] }, settings);
    expect(more).toMatchObject({ ticksInserted: 30, ticksCopied: 30 });
  });

  it("fails a COPY whose transaction's connection is already gone, without an error escaping the driver", async () => {
    const escaped: unknown[] = [];
    const onUncaught = (error: unknown) => escaped.push(error);
    process.on('uncaughtException', onUncaught);
    const doomed = createDb(db.url, { max: 1, applicationName: 'tv-copy-closed' });
    try {
      const outcome = await doomed.begin(async (tx) => {
        await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'tv-copy-closed'`;
        // The client has seen its connection close once a statement on it fails.
        await (tx as unknown as Sql)`select 1`.catch(() => undefined);
        return copyLines(tx as unknown as Sql, '1\t2026-01-02T00:00:00Z\t1\t1\t1\n').then(() => 'copied', (error: { code?: string }) => `failed: ${error.code}`);
      }).catch((error: { code?: string }) => `transaction failed: ${error.code}`);
      // Let anything the driver threw on its way out surface.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(outcome).toMatch(/failed/);
      expect(escaped.map(String)).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await doomed.end({ timeout: 1 });
    }
  });

  it('gives every new series its id when a batch brings many at once, some already known', async () => {
    const symbols = Array.from({ length: 60 }, (_, i) => `N${i}/USDT`);
    await writeTickBatch(db.sql, { ticks: symbols.filter((_, i) => i % 3 === 0).map((s, i) => trade(at(600 + i), '1', '1', `k${i}`, s)), rejections: [] }, settings);
    const result = await writeTickBatch(db.sql, { ticks: symbols.map((s, i) => trade(at(700 + i), '1', '1', `n${i}`, s)), rejections: [] }, settings);
    expect(result.ticksInserted).toBe(60);
    const [series] = await db.sql`select count(*)::int as n from series where symbol like 'N%/USDT'`;
    expect(series!.n).toBe(60);
  });

  it('stores a trade id with a backslash exactly', async () => {
    const odd = trade(at(500), '1', '1', 'a\\b\\N', 'XRP/USDT');
    expect(await writeTickBatch(db.sql, { ticks: [odd], rejections: [] }, settings)).toMatchObject({ ticksCopied: 1 });
    const [row] = await db.sql`select trade_id from ticks where symbol = 'XRP/USDT'`;
    expect(row!.trade_id).toBe('a\\b\\N');
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

  it('drops whole days of trades past their horizon, keeps the rest, and trims macro points in bounded chunks', async () => {
    const now = Date.now();
    const day = 86_400_000;
    const row = (assetClass: string, symbol: string, ts: Date) => ({ assetClass, symbol, ts });
    const rows = [
      ...Array.from({ length: 25 }, (_, i) => row('crypto', 'BTC/USDT', new Date(now - 10 * day - i * 1000))),
      ...Array.from({ length: 5 }, (_, i) => row('crypto', 'BTC/USDT', new Date(now - day - i * 1000))),
      ...Array.from({ length: 5 }, (_, i) => row('macro', 'DGS10', new Date(now - 30 * day - i * day))),
      ...Array.from({ length: 25 }, (_, i) => row('macro', 'DGS2', new Date(now - 4000 * day - i * day))),
    ];
    for (const { assetClass, symbol, ts } of rows) {
      await db.sql`insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
        values ('sim', ${symbol}, ${assetClass}, ${ts}, 1, 1, ${String(ts.getTime())})`;
    }
    const partitions = async () =>
      (await db.sql<{ n: number }[]>`select count(*)::int as n from pg_inherits where inhparent = 'tick_rows'::regclass`)[0]!.n;
    const before = await partitions();
    const horizons = {
      byAssetClass: { crypto: new Date(now - 7 * day), stock: new Date(now - 7 * day), macro: new Date(now - 3650 * day) },
    };
    const first = await trimExpired(db.sql, horizons, 10);
    expect(first.more).toBe(true);
    await trimExpired(db.sql, horizons, 10);
    const last = await trimExpired(db.sql, horizons, 10);
    expect(last).toMatchObject({ ticksDeleted: 5, more: false });
    const left = await db.sql`select asset_class, symbol, count(*)::int as n from ticks group by 1, 2 order by 1, 2`;
    expect(left).toEqual([
      { asset_class: 'crypto', symbol: 'BTC/USDT', n: 5 },
      { asset_class: 'macro', symbol: 'DGS10', n: 5 },
    ]);
    // The old days' partitions are gone (one or two: the 25 old trades may straddle midnight); the
    // coming days exist ahead of the first trade that needs them.
    const tomorrow = new Date(now + day).toISOString().slice(0, 10).replaceAll('-', '');
    const [ahead] = await db.sql`select to_regclass(${`tick_rows_p${tomorrow}`}) is not null as exists`;
    expect(ahead!.exists).toBe(true);
    expect(await partitions()).toBeLessThan(before + 4);
    const [old] = await db.sql`select count(*)::int as n from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'tick_rows'::regclass and c.relname < ${`tick_rows_p${new Date(now - 8 * day).toISOString().slice(0, 10).replaceAll('-', '')}`}`;
    expect(old!.n).toBe(0);
  });

  it('trims gap records past their series\' tick horizon, whatever their status, and keeps the recent ones', async () => {
    const now = Date.now();
    const day = 86_400_000;
    const gap = (symbol: string, assetClass: string, endDaysAgo: number, status: string) => ({
      source: 'sim', symbol, asset_class: assetClass, timeframe: '1m',
      range_start: new Date(now - endDaysAgo * day - 600_000), range_end: new Date(now - endDaysAgo * day), missing: 10, status,
    });
    const rows = [
      ...Array.from({ length: 15 }, (_, i) => gap('OLD/USDT', 'crypto', 8 + i, i % 2 ? 'no_data' : 'open')),
      gap('NEW/USDT', 'crypto', 1, 'no_data'),
      gap('SPY', 'stock', 9, 'no_data'),
      gap('DGS10', 'macro', 30, 'no_data'),
    ];
    await db.sql`insert into gaps ${db.sql(rows)}`;
    const horizons = {
      byAssetClass: { crypto: new Date(now - 7 * day), stock: new Date(now - 10 * day), macro: new Date(now - 3650 * day) },
    };
    const first = await trimExpired(db.sql, horizons, 10);
    expect(first).toMatchObject({ gapsDeleted: 10, more: true });
    const second = await trimExpired(db.sql, horizons, 10);
    expect(second.gapsDeleted).toBe(5);
    const left = await db.sql`select symbol from gaps order by symbol`;
    expect(left.map((r) => r.symbol)).toEqual(['DGS10', 'NEW/USDT', 'SPY']);
  });
});

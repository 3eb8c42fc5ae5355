import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, syntheticTicks, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { EXPECTED_SCHEMA_VERSION, migrate, migrateTo } from './migrate.js';
import { seriesStats } from './report.js';
import { trimExpired } from './retention.js';
import { verifyCandles } from './verify.js';
import { writeTickBatch } from './tick-store.js';
import { writeTickBatchV1 } from './write-path-v1.js';
import { writePoints } from './bar-store.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number>;

describe('migration 5 (write path v2) on a populated database', () => {
  let db: TestDatabase;
  const now = Date.now();
  const trades: Tick[] = [
    ...syntheticTicks({ count: 30_000, symbols: ['BTC/USDT', 'ETH/USDT'], startMs: now - 2 * 86_400_000, stepMs: 5_000, source: 'binance' }),
    ...syntheticTicks({ count: 5_000, symbols: ['AAPL'], startMs: now - 86_400_000, stepMs: 7_000, source: 'alpaca' }).map((t) => ({ ...t, assetClass: 'stock' as const, tradeId: `V-${t.tradeId}` })),
  ];
  const points: Tick[] = Array.from({ length: 40 }, (_, i) => ({
    source: 'fred', symbol: 'DGS10', assetClass: 'macro', ts: new Date(Date.UTC(2024, 0, 1 + i * 7)).toISOString(), price: `${(4 + i / 100).toFixed(2)}`, size: '0', tradeId: null,
  }));

  beforeAll(async () => {
    // Schema 4: the migrations before write path v2, written below by the v1 write path.
    db = await createTestDatabase((url) => migrateTo(url, 4));
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps every tick, candle and cutoff, and verify finds the same, then takes v2 writes', async () => {
    for (let i = 0; i < trades.length; i += 5_000) await writeTickBatchV1(db.sql, { ticks: trades.slice(i, i + 5_000), rejections: [] }, { candleKeep: keep });
    // Schema 4's macro write, as its writer did it (the table is still `ticks` here).
    await db.sql.unsafe(
      `insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
       select 'fred', 'DGS10', 'macro', ts::timestamptz, price::numeric, 0, null from unnest($1::text[], $2::text[]) as t(ts, price)`,
      [points.map((p) => p.ts), points.map((p) => p.price)] as never[],
    );
    const snapshot = async () => ({
      ticks: await db.sql`select source, symbol, asset_class, ts, price::text, size::text, trade_id, ingested_at from ticks order by source, symbol, ts, trade_id`,
      candles: await db.sql`select * from candles order by source, symbol, timeframe, open_time`,
      cutoffs: await db.sql`select * from candle_cutoffs order by source, symbol, timeframe`,
    });
    const window = { from: new Date(now - 3 * 86_400_000), to: new Date(now + 60_000) };
    const before = await snapshot();
    const verifiedBefore = await verifyCandles(db.sql, window);
    expect(before.ticks.length).toBe(trades.length + points.length);

    const started = performance.now();
    const result = await migrate(db.url);
    const ms = performance.now() - started;
    // On to the newest schema: the later migrations run on the populated database too.
    expect(result).toMatchObject({ from: 4, to: EXPECTED_SCHEMA_VERSION });

    const after = await snapshot();
    expect(after.ticks).toEqual(before.ticks);
    expect(after.candles).toEqual(before.candles);
    expect(after.cutoffs).toEqual(before.cutoffs);
    const verifiedAfter = await verifyCandles(db.sql, window);
    expect(verifiedAfter).toEqual(verifiedBefore);
    expect(verifiedAfter.mismatches).toEqual([]);
    const [layout] = await db.sql`select
      (select count(*)::int from series) as series, (select count(*)::int from tick_rows) as trades, (select count(*)::int from macro_points) as points,
      (select relkind from pg_class where relname = 'ticks') as ticks_kind`;
    expect(layout).toEqual({ series: 4, trades: trades.length, points: points.length, ticks_kind: 'v' });

    // The v2 path on the migrated database: a resend changes nothing, new trades and revisions land.
    const resend = await writeTickBatch(db.sql, { ticks: trades.slice(-2_000), rejections: [] }, { candleKeep: keep });
    expect(resend.ticksInserted).toBe(0);
    const fresh = syntheticTicks({ count: 500, symbols: ['BTC/USDT'], startMs: now - 30_000, stepMs: 50, source: 'binance' }).map((t) => ({ ...t, tradeId: `n${t.tradeId}` }));
    expect((await writeTickBatch(db.sql, { ticks: fresh, rejections: [] }, { candleKeep: keep })).ticksInserted).toBe(500);
    await db.sql.begin((tx) => writePoints(tx as never, [{ ...points[0]!, price: '3.99' }]));
    expect((await verifyCandles(db.sql, window)).mismatches).toEqual([]);
    // Per-series tick counts (migration 6 counted what was there; the writes since added theirs) match
    // counting the rows, before and after the maintenance run folds the writers' deltas.
    const stored = await db.sql<{ source: string; symbol: string; n: number }[]>`
      select source, symbol, count(*)::int as n from ticks group by 1, 2 order by 1, 2`;
    const counted = async () => (await seriesStats(db.sql, stored)).map((s) => s.tickCount);
    expect(await counted()).toEqual(stored.map((s) => s.n));
    await trimExpired(db.sql, { byAssetClass: { crypto: new Date(0), stock: new Date(0), macro: new Date(0) } });
    expect(await db.sql`select * from tick_count_deltas`).toEqual([]);
    expect(await counted()).toEqual(stored.map((s) => s.n));
    process.stdout.write(`migration 4 → 5: ${before.ticks.length} ticks in ${Math.round(ms)} ms\n`);
  }, 180_000);
});

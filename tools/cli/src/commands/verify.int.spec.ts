import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { migrate, writeTickBatch } from '@tickvault/db';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { runCli } from '../testing/run-cli.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number>;
const HOUR_MS = 3_600_000;

describe('tickvault verify', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  // Three hours back, on an hour boundary: whole 1m..1h buckets inside the default 24 h window.
  const base = Math.floor((Date.now() - 3 * HOUR_MS) / HOUR_MS) * HOUR_MS;
  const at = (offsetMs: number) => new Date(base + offsetMs).toISOString();

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    env = { DATABASE_URL: db.url };
    const ticks: Tick[] = [];
    for (let i = 0; i < 40; i++) {
      ticks.push({ source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts: at(i * 37_000), price: `${100 + (i % 7)}.5`, size: '0.25', tradeId: String(i + 1) });
      ticks.push({ source: 'sim', symbol: 'ETH/USDT', assetClass: 'crypto', ts: at(i * 41_000), price: `${20 + (i % 5)}`, size: '1', tradeId: String(i + 1) });
    }
    await writeTickBatch(db.sql, { ticks, rejections: [] }, { candleKeep: keep });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('exits 0 when every candle matches its ticks', async () => {
    const result = await runCli(['verify'], env);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const checked = Number(/checked (\d+) candles/.exec(result.stdout)?.[1]);
    expect(checked).toBeGreaterThan(20);
    expect(result.stdout).toContain('ok: every stored candle matches its ticks');
  });

  it('exits 1 and names the candle after one is corrupted', async () => {
    await db.sql`update candles set high = high + 1 where source = 'sim' and symbol = 'BTC/USDT' and timeframe = '5m' and open_time = ${at(0)}`;
    try {
      const result = await runCli(['verify'], env);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stdout).toContain('1 mismatch:');
      expect(result.stdout).toMatch(new RegExp(`sim:BTC/USDT\\s+5m\\s+${at(0).slice(0, 19)}Z\\s+different: high stored 107\\.5 expected 106\\.5`));

      const json = await runCli(['verify', '--json', '--symbol', 'BTC/USDT'], env);
      expect(json.code).toBe(1);
      const doc = JSON.parse(json.stdout) as { checked: number; mismatches: { symbol: string; timeframe: string; problem: string }[] };
      expect(doc.mismatches).toEqual([expect.objectContaining({ symbol: 'BTC/USDT', timeframe: '5m', problem: 'different' })]);

      // The filter applies: ETH has no damaged candle.
      const eth = await runCli(['verify', '--symbol', 'ETH/USDT'], env);
      expect(eth.code, eth.stdout).toBe(0);
    } finally {
      await db.sql`update candles set high = high - 1 where source = 'sim' and symbol = 'BTC/USDT' and timeframe = '5m' and open_time = ${at(0)}`;
    }
  });

  it('moves --from forward to the tick retention horizon instead of reporting trimmed ticks', async () => {
    const result = await runCli(['verify', '--from', '2000-01-01T00:00:00Z'], { ...env, TICK_RETENTION_DAYS: '2' });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/note: --from moved from 2000-01-01 00:00:00 to .* ticks older than 2 days are trimmed/);
  });

  it('refuses a malformed --from with exit 2', async () => {
    const result = await runCli(['verify', '--from', 'yesterday'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--from must be an ISO-8601 instant');
  });
});

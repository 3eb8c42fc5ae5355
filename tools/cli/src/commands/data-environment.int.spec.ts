import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, recordedDataEnvironment, writeTickBatch } from '@tickvault/db';
import { TIMEFRAMES, type Timeframe } from '@tickvault/schema';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { runCli } from '../testing/run-cli.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 100])) as Record<Timeframe, number>;

describe('tickvault data-environment', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('relabels an empty database without --force, and one with data only with it', async () => {
    const env = { DATABASE_URL: db.url };
    expect(await runCli(['data-environment'], env)).toMatchObject({
      code: 0, stdout: '(none recorded yet) (no data stored yet: the first writer to store a row records its DATA_ENVIRONMENT)\n',
    });
    expect(await runCli(['data-environment', '--set', 'live'], env)).toMatchObject({ code: 0 });
    // Empty: nothing to mix, so a plain --set is enough.
    const relabelled = await runCli(['data-environment', '--set', 'demo'], env);
    expect(relabelled.code).toBe(0);
    expect(relabelled.stdout).toContain(': live -> demo');

    await writeTickBatch(db.sql, {
      ticks: [{ source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts: new Date().toISOString(), price: '1', size: '1', tradeId: '1' }],
      rejections: [],
    }, { candleKeep: keep, dataEnvironment: { environment: 'demo', by: 'test' } });
    expect(await runCli(['data-environment'], env)).toMatchObject({ code: 0, stdout: 'demo\n' });
    const refused = await runCli(['data-environment', '--set', 'live'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('holds demo data: relabelling it live needs --force');
    expect(await recordedDataEnvironment(db.sql)).toBe('demo');
    expect(await runCli(['data-environment', '--set', 'live', '--force'], env)).toMatchObject({ code: 0 });
    expect(await recordedDataEnvironment(db.sql)).toBe('live');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { createDb, type Sql } from './client.js';
import {
  checkDataEnvironment, claimDataEnvironmentForWrite, DataEnvironmentMismatchError, holdsMarketData, recordedDataEnvironment, setDataEnvironment,
  type DataEnvironment,
} from './data-environment.js';
import { migrate } from './migrate.js';
import { writeTickBatch, type TickBatch, type WriteSettings } from './tick-store.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 100])) as Record<Timeframe, number>;

function settings(environment: DataEnvironment): WriteSettings {
  return { candleKeep: keep, dataEnvironment: { environment, by: `writer-${environment}@test` } };
}

let next = 0;
function trades(n = 2): TickBatch {
  const ticks: Tick[] = Array.from({ length: n }, () => {
    next++;
    return { source: 'sim', symbol: 'BTC/USDT', assetClass: 'crypto', ts: new Date(Date.now() - 60_000 + next).toISOString(), price: '100.5', size: '1', tradeId: String(next) };
  });
  return { ticks, rejections: [] };
}

async function countTicks(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ticks`;
  return row!.n;
}

describe('data environment label', () => {
  const dbs: TestDatabase[] = [];
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.drop();
  });
  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase(migrate);
    dbs.push(db);
    return db;
  }

  it('is not recorded by a check: an empty database stays unlabelled until a row is stored', async () => {
    const db = await database();
    expect(await checkDataEnvironment(db.sql, 'live')).toEqual({ state: 'unlabelled', recorded: null });
    expect(await recordedDataEnvironment(db.sql)).toBeNull();
    // A batch of rejections only stores no market data and leaves no label either.
    await writeTickBatch(db.sql, {
      ticks: [],
      rejections: [{ source: 'sim', symbol: 'BTC/USDT', reason: 'invalid_price', detail: 'x', sample: '{}', origin: 'writer', jobKey: 'q:1', position: 0 }],
    }, settings('live'));
    expect(await recordedDataEnvironment(db.sql)).toBeNull();
    // A live run that stored nothing, then a demo run: accepted, and its first row labels the database.
    expect(await checkDataEnvironment(db.sql, 'demo')).toEqual({ state: 'unlabelled', recorded: null });
    await writeTickBatch(db.sql, trades(), settings('demo'));
    expect(await recordedDataEnvironment(db.sql)).toBe('demo');
    const [row] = await db.sql`select set_by from tickvault_meta where key = 'data_environment'`;
    expect(row!.set_by).toBe('writer-demo@test');
  });

  it('refuses another environment once data is stored: at startup and at a write, which stores nothing', async () => {
    const db = await database();
    await writeTickBatch(db.sql, trades(3), settings('demo'));
    await expect(checkDataEnvironment(db.sql, 'live')).rejects.toThrow(DataEnvironmentMismatchError);
    await expect(checkDataEnvironment(db.sql, 'live')).rejects.toThrow(/this database holds demo data, but DATA_ENVIRONMENT=live: refusing to mix them/);
    const refused = await writeTickBatch(db.sql, trades(2), settings('live')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DataEnvironmentMismatchError);
    expect(refused).toMatchObject({ recorded: 'demo', wanted: 'live' });
    expect(await countTicks(db.sql)).toBe(3);
    expect(await recordedDataEnvironment(db.sql)).toBe('demo');
    // The same environment carries on.
    expect(await checkDataEnvironment(db.sql, 'demo')).toEqual({ state: 'same', recorded: 'demo' });
    await writeTickBatch(db.sql, trades(2), settings('demo'));
    expect(await countTicks(db.sql)).toBe(5);
  });

  it('counts candles and macro points as data, not only trades', async () => {
    const db = await database();
    await setDataEnvironment(db.sql, 'live', 'test');
    await writeTickBatch(db.sql, {
      ticks: [{ source: 'fred', symbol: 'DGS10', assetClass: 'macro', ts: '2026-01-02T00:00:00Z', price: '4.1', size: '0', tradeId: null }],
      rejections: [],
    }, { candleKeep: keep });
    expect(await holdsMarketData(db.sql)).toBe(true);
    await expect(checkDataEnvironment(db.sql, 'demo')).rejects.toThrow(DataEnvironmentMismatchError);
    await db.sql`delete from macro_points`;
    expect(await holdsMarketData(db.sql)).toBe(true); // its candles are still there
    await db.sql`delete from candles`;
    expect(await holdsMarketData(db.sql)).toBe(false);
  });

  it('lets an empty database labelled by a run that stored nothing take the next environment', async () => {
    const db = await database();
    // What an earlier version left behind: the label written at startup, no data.
    await setDataEnvironment(db.sql, 'live', 'writer@old');
    expect(await checkDataEnvironment(db.sql, 'demo')).toEqual({ state: 'empty-other', recorded: 'live' });
    expect(await recordedDataEnvironment(db.sql)).toBe('live');
    await writeTickBatch(db.sql, trades(), settings('demo'));
    expect(await recordedDataEnvironment(db.sql)).toBe('demo');
    await expect(checkDataEnvironment(db.sql, 'live')).rejects.toThrow(DataEnvironmentMismatchError);
  });

  it('makes a second environment wait for the first one\'s write and then refuse, when both meet an empty database', async () => {
    const db = await database();
    // Labelled by an earlier run that stored nothing, so both may relabel it.
    await setDataEnvironment(db.sql, 'test', 'writer@old');
    const live = createDb(db.url, { max: 1, applicationName: 'tv-env-live' });
    try {
      // A live writer's first batch: label claimed and a row stored, not yet committed.
      let commit!: () => void;
      const released = new Promise<void>((resolve) => (commit = resolve));
      const liveBatch = live.begin(async (tx) => {
        await claimDataEnvironmentForWrite(tx as unknown as Sql, 'live', 'writer-live@test');
        await tx`insert into macro_points (series_id, ts, trade_id, price, size) values (1, now(), null, 1, 0)`;
        await released;
      });
      await eventually(() => inTransaction(db.sql, 'tv-env-live'), 'the live batch holding the label');
      // A demo writer's first batch meanwhile waits for the label.
      const demoBatch = writeTickBatch(db.sql, trades(2), settings('demo')).catch((error: unknown) => error);
      await eventually(async () => (await waitingOnLock(db.sql)) > 0, 'the demo batch waiting for the label');
      commit();
      await liveBatch;
      const outcome = await demoBatch;
      expect(outcome).toBeInstanceOf(DataEnvironmentMismatchError);
      expect(outcome).toMatchObject({ recorded: 'live', wanted: 'demo' });
      expect(await recordedDataEnvironment(db.sql)).toBe('live');
      expect(await countTicks(db.sql)).toBe(1); // the live point; no demo trade
    } finally {
      await live.end({ timeout: 5 });
    }
  });
});

async function waitingOnLock(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
  return row!.n;
}

async function inTransaction(sql: Sql, applicationName: string): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = ${applicationName} and state = 'idle in transaction'`;
  return row!.n > 0;
}

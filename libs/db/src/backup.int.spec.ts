import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, syntheticTicks, type TestDatabase } from '@tickvault/testing';
import { TIMEFRAMES, type Tick, type Timeframe } from '@tickvault/schema';
import { EXPECTED_SCHEMA_VERSION, migrate } from './migrate.js';
import { writeTickBatch, type RejectionRow, type TickBatch, type WriteSettings } from './tick-store.js';
import { verifyCandles } from './verify.js';
import { recordEvents } from './events.js';
import type { Sql } from './client.js';

/**
 * docs/backup-and-restore.md, checked: `pg_dump -Fc` of a tickvault database, `pg_restore --no-owner`
 * into a fresh empty one, and the restored copy holds the same ticks, candles, cutoffs and events,
 * passes `verify`, needs no migration, and keeps taking writes. PostgreSQL 15 client tools, as on
 * this project's machines (pg_dump refuses a server newer than itself).
 */

const PG_DUMP = '/usr/bin/pg_dump';
const PG_RESTORE = '/usr/bin/pg_restore';
const run = promisify(execFile);

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number>;
const settings: WriteSettings = { candleKeep: keep };

// 24,000 trades over 4 symbols, one every 30 s: 6,000 one-minute buckets per symbol, so 1m and 5m
// candles are trimmed to the kept 2,000 and candle_cutoffs has rows to carry over.
const START_MS = Date.parse('2026-01-05T00:00:00Z');
const ledger = syntheticTicks({ count: 24_000, symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT'], startMs: START_MS, stepMs: 30_000 });
const window = { from: new Date(START_MS - 86_400_000), to: new Date(START_MS + 24_000 * 30_000 + 86_400_000) };

/** One "job" of the queue: its ticks, and a rejection so rejected_ticks is part of the copy too. */
function batches(ticks: readonly Tick[], size: number, label: string): TickBatch[] {
  const out: TickBatch[] = [];
  for (let i = 0; i < ticks.length; i += size) {
    const rejection: RejectionRow = {
      source: 'sim', symbol: 'BTC/USDT', reason: 'invalid_price', detail: 'price: must be positive',
      sample: '{"price":"-1"}', origin: 'writer', jobKey: `ticks:${label}-${i}`, position: 0,
    };
    out.push({ ticks: ticks.slice(i, i + size), rejections: [rejection] });
  }
  return out;
}

async function writeAll(sql: Sql, list: readonly TickBatch[]): Promise<void> {
  for (const batch of list) await writeTickBatch(sql, batch, settings);
}

async function dump(url: string, file: string): Promise<void> {
  await run(PG_DUMP, ['--format=custom', '--no-password', '--file', file, '--dbname', url]);
}

async function restore(file: string, url: string): Promise<void> {
  await run(PG_RESTORE, ['--no-owner', '--exit-on-error', '--no-password', '--dbname', url, file]);
}

/** Everything a restore must carry over, in a stable order; numerics come back as exact text. */
async function snapshot(sql: Sql) {
  const [ticks] = await sql<{ n: number; volume: string }[]>`select count(*)::int as n, coalesce(sum(size), 0)::text as volume from ticks`;
  const tickRows = await sql`
    select source, symbol, asset_class, ts, price::text, size::text, trade_id, ingested_at
    from ticks order by source, symbol, ts, trade_id`;
  const candles = await sql`select * from candles order by source, symbol, timeframe, open_time`;
  const cutoffs = await sql`select * from candle_cutoffs order by source, symbol, timeframe`;
  const [events] = await sql<{ n: number }[]>`select count(*)::int as n from system_events`;
  const eventRows = await sql`select * from system_events order by id`;
  const [rejected] = await sql<{ n: number }[]>`select count(*)::int as n from rejected_ticks`;
  return { ticks, tickRows, candles, cutoffs, events: events?.n, eventRows, rejected: rejected?.n };
}

describe('backup and restore with pg_dump / pg_restore', () => {
  let source: TestDatabase;
  const others: TestDatabase[] = [];
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tickvault-backup-'));
    source = await createTestDatabase(migrate);
    await writeAll(source.sql, batches(ledger.slice(0, 16_000), 2_000, 'a'));
    await recordEvents(source.sql, [
      { service: 'writer', kind: 'startup', symbol: null, details: { note: 'before the dump' } },
      { service: 'ingest-crypto', kind: 'redis_outage', symbol: null, details: { ms: 1200 }, dedupeKey: 'events:1' },
    ]);
  });

  afterAll(async () => {
    for (const db of [source, ...others]) await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('restores a dump into a fresh database with the same ticks, candles, cutoffs and events', async () => {
    const file = join(dir, 'quiet.dump');
    await dump(source.url, file);
    expect((await stat(file)).size).toBeGreaterThan(0);

    const target = await createTestDatabase();
    others.push(target);
    await restore(file, target.url);

    const before = await snapshot(source.sql);
    const after = await snapshot(target.sql);
    // The data set is big enough to mean something: trimmed series and cutoffs are part of it.
    expect(before.ticks?.n).toBe(16_000);
    expect(before.cutoffs.length).toBeGreaterThan(0);
    expect(before.candles.length).toBeGreaterThan(1000);
    expect(before.rejected).toBe(8);

    expect(after.ticks).toEqual(before.ticks);
    expect(after.tickRows).toEqual(before.tickRows);
    expect(after.candles).toEqual(before.candles);
    expect(after.cutoffs).toEqual(before.cutoffs);
    expect(after.events).toBe(before.events);
    expect(after.eventRows).toEqual(before.eventRows);
    expect(after.rejected).toBe(before.rejected);

    const verified = await verifyCandles(target.sql, window);
    expect(verified.checked).toBeGreaterThan(0);
    expect(verified.mismatches).toEqual([]);
  });

  it('needs no migration after a restore, and keeps taking writes (identity sequences restored)', async () => {
    const file = join(dir, 'quiet.dump');
    const target = await createTestDatabase();
    others.push(target);
    await restore(file, target.url);

    // `tickvault migrate` after a restore: a no-op when the dump came from the current schema.
    const migrated = await migrate(target.url);
    expect(migrated).toMatchObject({ from: EXPECTED_SCHEMA_VERSION, to: EXPECTED_SCHEMA_VERSION, applied: [], createdDatabase: false });

    // A job redelivered after the restore stores nothing twice.
    const again = await writeTickBatch(target.sql, batches(ledger.slice(0, 2_000), 2_000, 'a')[0] as TickBatch, settings);
    expect(again).toMatchObject({ ticksInserted: 0, candlesWritten: 0, rejectionsRecorded: 0 });

    // New rows get fresh ids: the identity sequences came back with the data.
    const fresh = batches(ledger.slice(16_000, 18_000), 2_000, 'fresh')[0] as TickBatch;
    const written = await writeTickBatch(target.sql, fresh, settings);
    expect(written.ticksInserted).toBe(2_000);
    expect(written.rejectionsRecorded).toBe(1);
    expect(await recordEvents(target.sql, [{ service: 'writer', kind: 'startup', symbol: null, details: {} }])).toBe(1);
    expect((await verifyCandles(target.sql, window)).mismatches).toEqual([]);
  });

  it('a dump taken while writes go on is consistent, and redelivering the queued jobs after restore converges', async () => {
    const live = await createTestDatabase(migrate);
    others.push(live);
    const first = batches(ledger.slice(0, 12_000), 1_000, 'a');
    const rest = batches(ledger.slice(12_000), 1_000, 'b');
    await writeAll(live.sql, first);

    // The writer keeps committing while pg_dump runs: the dump is one MVCC snapshot, so whatever it
    // caught of a batch, it caught all of it (ticks and their candles commit together).
    const file = join(dir, 'online.dump');
    let dumping = true;
    const writing = (async () => {
      let i = 0;
      for (; i < rest.length && dumping; i++) await writeTickBatch(live.sql, rest[i] as TickBatch, settings);
      return i;
    })();
    await dump(live.url, file);
    dumping = false;
    const writtenDuringDump = await writing;
    await writeAll(live.sql, rest.slice(writtenDuringDump));

    const target = await createTestDatabase();
    others.push(target);
    await restore(file, target.url);
    expect((await verifyCandles(target.sql, window)).mismatches, 'the online dump is consistent').toEqual([]);

    // After the restore, the jobs the dump may not hold are delivered (again): the queue's jobs
    // after a stop-dump-restart, or every job here, to cover whatever point the snapshot took.
    await writeAll(target.sql, [...first, ...rest]);
    const expected = await snapshot(live.sql);
    const converged = await snapshot(target.sql);
    expect(converged.ticks).toEqual(expected.ticks);
    // ingested_at differs for redelivered ticks (stamped when written); everything else is equal.
    const strip = (rows: readonly Record<string, unknown>[], column: string) => rows.map(({ [column]: _, ...rest }) => rest);
    expect(strip(converged.tickRows, 'ingested_at')).toEqual(strip(expected.tickRows, 'ingested_at'));
    expect(strip(converged.candles, 'updated_at')).toEqual(strip(expected.candles, 'updated_at'));
    expect(converged.cutoffs).toEqual(expected.cutoffs);
    expect(converged.rejected).toBe(expected.rejected);
    expect((await verifyCandles(target.sql, window)).mismatches).toEqual([]);
  });
});

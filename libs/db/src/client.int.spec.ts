import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from '@tickvault/testing';
import { createDb, probeWritable, stopOverrunTransactions, type Sql } from './client.js';

describe('database client safeguards (real Postgres)', () => {
  let db: TestDatabase;
  let writer: Sql;

  beforeAll(async () => {
    db = await createTestDatabase();
    writer = createDb(db.url, { max: 2, applicationName: 'tv-test-overrun' });
  });

  afterAll(async () => {
    await writer?.end({ timeout: 1 });
    await db?.drop();
  });

  it('probeWritable says yes on a primary and no inside a read-only session', async () => {
    expect(await probeWritable(writer, 5_000)).toBe(true);
    const readOnly = createDb(db.url, { max: 1 });
    try {
      await readOnly`set default_transaction_read_only = on`;
      expect(await probeWritable(readOnly, 5_000)).toBe(false);
    } finally {
      await readOnly.end({ timeout: 1 });
    }
  });

  it('stops a transaction its client abandoned: a running statement is cancelled, an idle one ended', async () => {
    const running = writer.begin((tx) => tx`select pg_sleep(60)`).catch((error: unknown) => error);
    const idle = writer.reserve();
    const held = await idle;
    await held`begin`;
    await held`select 1`;
    // Transactions younger than the limit are left alone.
    expect(await stopOverrunTransactions(db.sql, 'tv-test-overrun', 3_600_000)).toBe(0);
    await eventually(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where application_name = 'tv-test-overrun' and xact_start < now() - interval '10 milliseconds'`;
      return row!.n === 2;
    }, 'both transactions older than the limit', 10_000, 20);
    expect(await stopOverrunTransactions(db.sql, 'tv-test-overrun', 10)).toBe(2);
    expect(await running).toMatchObject({ code: '57014' });
    await expect(held`select 1`).rejects.toBeDefined();
    held.release();
  });
});

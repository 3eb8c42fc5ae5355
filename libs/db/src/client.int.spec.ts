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

  it('cancels the running statement of a transaction its client abandoned, and leaves younger ones alone', async () => {
    const running = writer.begin((tx) => tx`select pg_sleep(60)`).catch((error: unknown) => error);
    await eventually(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where application_name = 'tv-test-overrun' and state = 'active' and xact_start < now() - interval '10 milliseconds'`;
      return row!.n === 1;
    }, 'the transaction older than the limit', 10_000, 20);
    expect(await stopOverrunTransactions(db.sql, 'tv-test-overrun', 3_600_000)).toBe(0);
    expect(await stopOverrunTransactions(db.sql, 'tv-test-overrun', 10)).toBe(1);
    expect(await running).toMatchObject({ code: '57014' });
  });
});

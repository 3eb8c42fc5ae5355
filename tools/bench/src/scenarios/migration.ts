import { createDb, migrate, migrateTo } from '@tickvault/db';
import { copyLine, copyTicks, fmtNumber, log, record, ticksAt, type BenchContext } from '../lib.js';

export interface MigrationOptions {
  ticks: number;
  series: number;
}

const DAY_MS = 86_400_000;

/**
 * Migration 5 (write path v2) on a database of schema 4 holding `ticks` trades over 5 days and
 * `series` series (built with COPY, then VACUUM ANALYZE): the time the upgrade takes, per million ticks.
 * Runs in a scratch database of its own next to the bench database.
 */
export async function migration(ctx: BenchContext, o: MigrationOptions): Promise<void> {
  log(`migration: ${o.ticks} ticks over ${o.series} series`);
  const url = new URL(ctx.databaseUrl);
  url.pathname = '/tickvault_bench_migration';
  await ctx.sql.unsafe('drop database if exists tickvault_bench_migration with (force)');
  await ctx.sql.unsafe('create database tickvault_bench_migration');
  try {
    await migrateTo(url.toString(), 4);
    const sql = createDb(url.toString(), { max: 1, statementTimeoutMs: 0 });
    try {
      const symbols = Array.from({ length: o.series }, (_, i) => `M${i}/USDT`);
      const startMs = Date.now() - 5 * DAY_MS;
      const stepMs = (5 * DAY_MS) / o.ticks;
      await copyTicks(sql, o.ticks, (from, count) =>
        ticksAt(from, count, { symbols, startMs: 0, stepMs: 0, source: 'mig' }).map((t, k) => copyLine({ ...t, ts: new Date(startMs + Math.floor((from + k) * stepMs)).toISOString() })), 20_000, 'schema4');
      await sql.unsafe('vacuum analyze ticks');
    } finally {
      await sql.end();
    }
    const started = performance.now();
    await migrate(url.toString());
    const seconds = (performance.now() - started) / 1000;
    const check = createDb(url.toString(), { max: 1, statementTimeoutMs: 0 });
    try {
      const [row] = await check`select count(*)::int as n from ticks`;
      if (row!.n !== o.ticks) throw new Error(`migration kept ${row!.n} of ${o.ticks} ticks`);
    } finally {
      await check.end();
    }
    record(ctx, { scenario: 'migration', metric: `migration 4 → 5 of ${fmtNumber(o.ticks)} ticks`, value: seconds, unit: 's' });
    record(ctx, { scenario: 'migration', metric: 'migration 4 → 5 per million ticks', value: (seconds * 1_000_000) / o.ticks, unit: 's', note: 'series table, daily partitions, rows copied, old table dropped; one transaction' });
  } finally {
    await ctx.sql.unsafe('drop database if exists tickvault_bench_migration with (force)');
  }
}

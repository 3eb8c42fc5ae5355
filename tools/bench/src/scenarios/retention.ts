import { seriesStats, trimExpired } from '@tickvault/db';
import { copyRowLine, copyTicks, CpuAccount, describeCpu, fmtNumber, log, prepareTickRows, record, resetState, ticksAt, type BenchContext } from '../lib.js';

export interface RetentionOptions {
  /** Rows in the large table (the small one has a tenth). */
  ticks: number;
  series: number;
}

const DAY_MS = 86_400_000;

/**
 * trimExpired's cost: trades live in daily partitions, so retention drops whole days. Measured on a
 * table of a tenth of `ticks` rows over 10 days and on one of `ticks` rows over 100 days (the same rows
 * per day), over `series` series (built with COPY in time order, then VACUUM ANALYZE): the time to drop
 * one day, then three days in one call. The figures to read are the ratios: dropping a day should cost
 * the same whatever the table holds, and per day rather than per row.
 */
export async function retention(ctx: BenchContext, o: RetentionOptions): Promise<void> {
  log(`retention: ${o.ticks} ticks over ${o.series} series`);
  const symbols = Array.from({ length: o.series }, (_, i) => `R${i}/USDT`);
  // Whole UTC days, far enough back (30 days before the newest) that nothing else touches them.
  const results: { rows: number; oneDayMs: number; oneDayRows: number; threeDaysMs: number; threeDaysRows: number; statsMs: number; countMs: number }[] = [];
  for (const [rows, days] of [[Math.floor(o.ticks / 10), 10], [o.ticks, 100]] as const) {
    await resetState(ctx);
    await ctx.sql`select tv_drop_tick_partitions(now() + interval '3 days')`;
    const startMs = Math.floor(Date.now() / DAY_MS) * DAY_MS - (days + 30) * DAY_MS;
    const ids = await prepareTickRows(ctx.sql, 'ret', symbols, startMs, startMs + (days - 1) * DAY_MS);
    const stepMs = (days * DAY_MS) / rows;
    const make = (from: number, count: number) =>
      ticksAt(from, count, { symbols, startMs: 0, stepMs: 0, source: 'ret' })
        .map((t, k) => copyRowLine({ ...t, ts: new Date(startMs + Math.floor((from + k) * stepMs)).toISOString() }, ids));
    const built = performance.now();
    await copyTicks(ctx.sql, rows, make);
    const copyS = (performance.now() - built) / 1000;
    await ctx.sql.unsafe('vacuum analyze tick_rows');
    const [size] = await ctx.sql`select count(*)::int as n from tick_rows`;
    record(ctx, { scenario: 'retention', metric: `table built (COPY), ${fmtNumber(rows)} rows over ${days} days`, value: size!.n as number, unit: 'rows', note: `COPY ${fmtNumber(rows / copyS)} rows/s` });
    await ctx.sql.unsafe('checkpoint');
    // /api/series and `report`: per-series tick counts from the kept per-day counts (the table was
    // loaded by COPY, so they are rebuilt first), against counting the rows as before (issue #14 item 10).
    await ctx.sql`select tv_rebuild_tick_counts()`;
    const seriesList = symbols.map((symbol) => ({ source: 'ret', symbol }));
    let started = performance.now();
    const stats = await seriesStats(ctx.sql, seriesList);
    const statsMs = performance.now() - started;
    started = performance.now();
    const [counted] = await ctx.sql<{ n: string }[]>`
      select sum((select count(*) from ticks t where t.source = s.source and t.symbol = s.symbol))::text as n
      from unnest(${seriesList.map((s) => s.source)}::text[], ${symbols}::text[]) as s(source, symbol)`;
    const countMs = performance.now() - started;
    const kept = stats.reduce((n, s) => n + s.tickCount, 0);
    if (kept !== Number(counted!.n)) throw new Error(`kept counts say ${kept} ticks, the rows ${counted!.n}`);
    record(ctx, { scenario: 'retention', metric: `series stats (/api/series) of ${o.series} series, ${fmtNumber(rows)}-row table`, value: statsMs, unit: 'ms', note: `counting the rows instead: ${fmtNumber(countMs)} ms` });
    const horizon = (n: number) => ({ byAssetClass: { crypto: new Date(startMs + n * DAY_MS), stock: new Date(startMs + n * DAY_MS), macro: new Date(0) } });
    const cpu = new CpuAccount(() => ({ bench: [process.pid] }));
    const count = async () => (await ctx.sql<{ n: number }[]>`select count(*)::int as n from tick_rows`)[0]!.n;
    let before = await count();
    started = performance.now();
    await trimExpired(ctx.sql, horizon(1));
    const oneDayMs = performance.now() - started;
    const afterOne = await count();
    const oneDayRows = before - afterOne;
    before = afterOne;
    started = performance.now();
    await trimExpired(ctx.sql, horizon(4));
    const threeDaysMs = performance.now() - started;
    const threeDaysRows = before - (await count());
    record(ctx, {
      scenario: 'retention', metric: `drop 1 day (${fmtNumber(oneDayRows)} rows) of a ${fmtNumber(rows)}-row table`, value: oneDayMs, unit: 'ms',
      note: `${((oneDayMs * 1000) / Math.max(1, oneDayRows)).toFixed(3)} µs/row`,
    });
    record(ctx, {
      scenario: 'retention', metric: `drop 3 days (${fmtNumber(threeDaysRows)} rows) of the same table`, value: threeDaysMs, unit: 'ms',
      note: `${((threeDaysMs * 1000) / Math.max(1, threeDaysRows)).toFixed(3)} µs/row; CPU: ${describeCpu(cpu.stop())}`,
    });
    if (oneDayRows <= 0 || threeDaysRows <= 0) throw new Error(`retention dropped nothing (${oneDayRows}, ${threeDaysRows})`);
    results.push({ rows, oneDayMs, oneDayRows, threeDaysMs, threeDaysRows, statsMs, countMs });
  }
  const [small, large] = results as [typeof results[0], typeof results[0]];
  record(ctx, {
    scenario: 'retention', metric: 'ratio one-day drop, large table / small table', value: large.oneDayMs / small.oneDayMs, unit: '',
    note: `${fmtNumber(large.rows)} vs ${fmtNumber(small.rows)} rows, ${fmtNumber(large.oneDayRows)} rows per day in both; v1 deleted row by row at ~6 µs/row`,
  });
  record(ctx, { scenario: 'retention', metric: 'ratio three days / one day (large table)', value: large.threeDaysMs / large.oneDayMs, unit: '' });
  record(ctx, {
    scenario: 'retention', metric: 'ratio series stats, large table / small table', value: large.statsMs / small.statsMs, unit: '',
    note: `counting the rows: ${(large.countMs / small.countMs).toFixed(2)}`,
  });
  await resetState(ctx);
}

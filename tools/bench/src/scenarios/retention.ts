import postgres from 'postgres';
import { trimExpired, type Sql } from '@tickvault/db';
import { copyLine, copyTicks, CpuAccount, describeCpu, fmtNumber, log, record, resetState, ticksAt, type BenchContext } from '../lib.js';

export interface RetentionOptions {
  /** Rows in the large table (the small one has a tenth). */
  ticks: number;
  series: number;
  /** Rows removed by the small delete (below trimExpired's chunk, so one call). */
  smallDelete: number;
  /** Share of the large table removed by the large delete. */
  largeShare: number;
}

const DAY_MS = 86_400_000;
const SMALL_REPEATS = 5;

/**
 * trimExpired's cost per deleted row: a small delete on a small table, the same small delete on a
 * table ten times larger, then a large delete (many chunks) on the large table. Rows are built with
 * COPY, in time order (as ticks arrive), spread evenly over 10 days and `series` series; each build is
 * followed by VACUUM ANALYZE, as autovacuum would eventually do. Nothing else writes meanwhile.
 */
export async function retention(ctx: BenchContext, o: RetentionOptions): Promise<void> {
  log(`retention: ${o.ticks} ticks over ${o.series} series`);
  await resetState(ctx);
  // trimExpired runs on a connection of its own, like a writer's pooled one (prepared statements, so
  // after five executions Postgres may switch to a cached generic plan). auto_explain, when it can be
  // loaded, reports the plan of each call's crypto delete: the cost depends on which plan it got.
  const plans: string[] = [];
  const trimSql = postgres(ctx.databaseUrl, {
    max: 1,
    connection: { TimeZone: 'UTC' },
    onnotice: (notice) => {
      const message = String(notice.message ?? '');
      if (!message.includes('doomed')) return;
      plans.push(/(Seq Scan|Bitmap Heap Scan|Index Only Scan|Index Scan)[^\n]* on ticks/.exec(message)?.[1] ?? 'other');
    },
  });
  try {
    await measure(ctx, o, trimSql, plans);
  } finally {
    await trimSql.end();
  }
  await resetState(ctx);
}

async function measure(ctx: BenchContext, o: RetentionOptions, trimSql: postgres.Sql, plans: string[]): Promise<void> {
  const symbols = Array.from({ length: o.series }, (_, i) => `R${i}/USDT`);
  const startMs = Date.now() - 30 * DAY_MS;
  const stepMs = (10 * DAY_MS) / o.ticks;
  // Integer milliseconds, in order: row i is the i-th oldest.
  const tsOf = (i: number) => startMs + Math.floor(i * stepMs);
  const make = (from: number, count: number) =>
    ticksAt(from, count, { symbols, startMs: 0, stepMs: 0, source: 'ret' }).map((t, k) => copyLine({ ...t, ts: new Date(tsOf(from + k)).toISOString() }));
  const small = Math.floor(o.ticks / 10);
  // Rows trimmed so far: the oldest `trimmed` rows are gone.
  let trimmed = 0;
  // Small deletes stay well inside the small table.
  const smallDelete = Math.min(o.smallDelete, Math.floor(small / 10));
  const horizon = (rowsBefore: number) => ({ crypto: new Date(tsOf(rowsBefore)), stock: new Date(0), macro: new Date(0) });

  const build = async (from: number, to: number) => {
    const started = performance.now();
    await copyTicks(ctx.sql, to - from, (i, count) => make(from + i, count));
    const copyS = (performance.now() - started) / 1000;
    const vacuumStarted = performance.now();
    await ctx.sql.unsafe('vacuum analyze ticks');
    return { copyS, vacuumS: (performance.now() - vacuumStarted) / 1000 };
  };
  const tableState = async () => {
    const [row] = await ctx.sql`select count(*)::int as n, pg_total_relation_size('ticks')::bigint as bytes from ticks`;
    return { rows: row!.n as number, mb: Number(row!.bytes) / 1048576 };
  };
  const explains = await trimSql
    .unsafe(`load 'auto_explain'; set auto_explain.log_min_duration = 0; set client_min_messages = log`)
    .then(() => true, () => false);
  const trimOnce = async (rowsBefore: number) => {
    const seen = plans.length;
    const started = performance.now();
    const result = await trimExpired(trimSql as unknown as Sql, { byAssetClass: horizon(rowsBefore) });
    const ms = performance.now() - started;
    // The crypto horizon comes first, so the first plan logged during the call is the crypto delete's.
    return { deleted: result.ticksDeleted, more: result.more, ms, plan: explains ? (plans[seen] ?? '?') : 'plan unknown' };
  };
  const planSummary = (list: readonly string[]) => {
    const runs: [string, number][] = [];
    for (const plan of list) {
      if (runs.at(-1)?.[0] === plan) runs.at(-1)![1]++;
      else runs.push([plan, 1]);
    }
    return runs.map(([plan, n]) => `${plan} ×${n}`).join(', then ');
  };

  /**
   * `SMALL_REPEATS` small deletes one after another (each one trimExpired call), after a checkpoint so
   * every phase pays the same full-page writes; the median is the figure, the spread is noted.
   */
  const smallDeletes = async () => {
    await ctx.sql.unsafe('checkpoint');
    const cpu = new CpuAccount(() => ({ bench: [process.pid] }));
    const perRow: number[] = [];
    const inOrder: number[] = [];
    const used: string[] = [];
    for (let k = 0; k < SMALL_REPEATS; k++) {
      const d = await trimOnce(trimmed + smallDelete);
      trimmed += d.deleted;
      perRow.push((d.ms * 1000) / d.deleted);
      inOrder.push(Math.round(d.ms));
      used.push(d.plan);
    }
    perRow.sort((a, b) => a - b);
    const usPerRow = perRow[Math.floor(perRow.length / 2)]!;
    const cores = describeCpu(cpu.stop());
    return { usPerRow, note: `median of ${SMALL_REPEATS} deletes of ${smallDelete} rows; in order ${inOrder.join('/')} ms; plans: ${planSummary(used)}; CPU: ${cores}` };
  };

  const b1 = await build(0, small);
  const s1 = await tableState();
  record(ctx, {
    scenario: 'retention', metric: 'small table built (COPY)', value: s1.rows, unit: 'rows',
    note: `${Math.round(s1.mb)} MB; COPY ${fmtNumber(small / b1.copyS)} rows/s, vacuum ${b1.vacuumS.toFixed(1)} s`,
  });
  const d1 = await smallDeletes();
  record(ctx, {
    scenario: 'retention', metric: `small delete on the small table (${fmtNumber(s1.rows)} rows)`, value: d1.usPerRow, unit: 'µs/row',
    note: d1.note,
  });

  const b2 = await build(small, o.ticks);
  const s2 = await tableState();
  record(ctx, {
    scenario: 'retention', metric: 'large table built (COPY)', value: s2.rows, unit: 'rows',
    note: `${Math.round(s2.mb)} MB; COPY ${fmtNumber((o.ticks - small) / b2.copyS)} rows/s over ${b2.copyS.toFixed(0)} s, vacuum ${b2.vacuumS.toFixed(1)} s`,
  });
  const d2 = await smallDeletes();
  record(ctx, {
    scenario: 'retention', metric: `small delete on the large table (${fmtNumber(s2.rows)} rows)`, value: d2.usPerRow, unit: 'µs/row',
    note: d2.note,
  });

  // The large delete: the writer's loop (one chunk after another while a chunk comes back full).
  await ctx.sql.unsafe('checkpoint');
  const target = trimmed + Math.floor(o.ticks * o.largeShare);
  const calls: number[] = [];
  const largePlans: string[] = [];
  let deleted = 0;
  const cpu = new CpuAccount(() => ({ bench: [process.pid] }));
  const started = performance.now();
  for (;;) {
    const d = await trimOnce(target);
    calls.push(d.ms);
    largePlans.push(d.plan);
    deleted += d.deleted;
    if (!d.more) break;
  }
  const totalMs = performance.now() - started;
  const used = describeCpu(cpu.stop());
  trimmed += deleted;
  const sorted = [...calls].sort((a, b) => a - b);
  record(ctx, {
    scenario: 'retention', metric: `large delete on the large table (${fmtNumber(deleted)} rows)`, value: (totalMs * 1000) / deleted, unit: 'µs/row',
    note: `${(totalMs / 1000).toFixed(1)} s in ${calls.length} calls of ≤20k rows; per call first ${Math.round(calls[0]!)} ms, median ${Math.round(sorted[Math.floor(sorted.length / 2)]!)} ms, last full ${Math.round(calls.at(-2) ?? calls[0]!)} ms; plans: ${planSummary(largePlans)}; CPU: ${used}`,
  });
  record(ctx, {
    scenario: 'retention', metric: 'ratio µs/row large delete / small delete (large table)', value: (totalMs * 1000) / deleted / d2.usPerRow, unit: '',
    note: `small delete, large table / small table: ${(d2.usPerRow / d1.usPerRow).toFixed(2)}`,
  });
  const [left] = await ctx.sql`select count(*)::int as n from ticks`;
  if (left!.n !== o.ticks - trimmed) throw new Error(`expected ${o.ticks - trimmed} rows left, found ${left!.n}`);
}

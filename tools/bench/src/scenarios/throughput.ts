import net from 'node:net';
import { createDb, V1_SCHEMA, writeTickBatch, writeTickBatchV1, type Sql, type TickBatch } from '@tickvault/db';
import { TIMEFRAMES, type Tick, type TickBatchJob, type Timeframe } from '@tickvault/schema';
import { ServiceProcess, repoPath } from '@tickvault/testing';
import { copyLine, copyRowLine, copyTicks, createV1Schema, log, prepareTickRows, record, resetState, symbolsOf, ticksAt, toJobs, type BenchContext } from '../lib.js';
import { measurePipeline, type PipelineResult } from '../pipeline.js';

const INSERT_ONLY_SQL = `
insert into ${V1_SCHEMA}.ticks (source, symbol, asset_class, ts, price, size, trade_id)
select source, symbol, asset_class, ts::timestamptz, price::numeric, size::numeric, trade_id
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) as t(source, symbol, asset_class, ts, price, size, trade_id)
order by source, symbol, ts, trade_id
on conflict on constraint ticks_natural_key do nothing`;

// The writer's default CANDLE_RETENTION (2000 per timeframe).
const CANDLE_KEEP = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 2000])) as Record<Timeframe, number>;

export interface ThroughputOptions {
  ticks: number;
  /** Runs of each of 1 and 2 writers (alternating) on the v2 path; the v1 baseline runs once each. */
  repeats: number;
  perJob: number;
  symbols: number;
}

/**
 * Raw COPY into ticks vs the end-to-end pipeline (producer → queue → writer → Postgres, with candles
 * and retention) with one writer process and with two, and once more with a dashboard serving a
 * live client that never reads. The write path before v2 (text-keyed ticks table, every trade through
 * INSERT … ON CONFLICT, candles folded in SQL) runs as a baseline in a scratch schema of the same
 * database: same ticks, same machine, same run.
 */
export async function throughput(ctx: BenchContext, o: ThroughputOptions): Promise<void> {
  const symbols = symbolsOf(o.symbols);
  const startMs = Date.now() - 3 * 3_600_000;
  const stepMs = Math.max(1, Math.floor((2 * 3_600_000) / o.ticks));
  const ticks = ticksAt(0, o.ticks, { symbols, startMs, stepMs });
  const jobs = toJobs(ticks, o.perJob);
  log(`throughput: ${o.ticks} ticks, ${o.perJob} per job, ${o.symbols} symbols`);
  await createV1Schema(ctx.sql);
  const v1Sql = createDb(ctx.databaseUrl, { max: 2, statementTimeoutMs: 0, applicationName: 'tickvault-bench-v1', searchPath: `${V1_SCHEMA}, public` });
  try {
    await measureAll(ctx, o, { symbols, startMs, ticks, jobs, v1Sql });
  } finally {
    await v1Sql.end();
  }
  await resetState(ctx);
}

async function measureAll(
  ctx: BenchContext,
  o: ThroughputOptions,
  { symbols, startMs, ticks, jobs, v1Sql }: { symbols: string[]; startMs: number; ticks: Tick[]; jobs: TickBatchJob[]; v1Sql: Sql },
): Promise<void> {
  await resetState(ctx);
  // Rows are rendered before the clock starts: only the database's work is timed.
  const ids = await prepareTickRows(ctx.sql, 'copy', symbols, startMs, Date.now());
  const lines = ticks.map((t) => copyRowLine({ ...t, source: 'copy' }, ids));
  const copyStarted = performance.now();
  await copyTicks(ctx.sql, lines.length, (from, count) => lines.slice(from, from + count), 5000);
  const copyRate = o.ticks / ((performance.now() - copyStarted) / 1000);
  ctx.shared.copyRate = copyRate;
  record(ctx, { scenario: 'throughput', metric: 'raw COPY into ticks', value: copyRate, unit: 'ticks/s', note: 'tick_rows: series id key, daily partitions' });

  const v1Lines = ticks.map((t) => copyLine({ ...t, source: 'copy' }));
  const v1CopyStarted = performance.now();
  await copyTicks(ctx.sql, v1Lines.length, (from, count) => v1Lines.slice(from, from + count), 5000, 'v1');
  const v1CopyRate = o.ticks / ((performance.now() - v1CopyStarted) / 1000);
  record(ctx, { scenario: 'throughput', metric: 'v1: raw COPY into v1 ticks', value: v1CopyRate, unit: 'ticks/s', note: 'text key (source, symbol, ts, trade_id) + (asset_class, ts) index' });

  // The v1 insert without the candle folding: what the text natural key costs.
  {
    await resetState(ctx);
    const sample = ticks.slice(0, Math.min(ticks.length, 100_000));
    const started = performance.now();
    for (let i = 0; i < sample.length; i += 5000) {
      const part = sample.slice(i, i + 5000);
      await ctx.sql.unsafe(INSERT_ONLY_SQL, [
        part.map((t) => t.source), part.map((t) => t.symbol), part.map((t) => t.assetClass), part.map((t) => t.ts),
        part.map((t) => t.price), part.map((t) => t.size), part.map((t) => t.tradeId),
      ] as never[]);
    }
    record(ctx, {
      scenario: 'throughput', metric: 'v1: INSERT … unnest … ON CONFLICT DO NOTHING, 5000-tick batches', value: sample.length / ((performance.now() - started) / 1000), unit: 'ticks/s',
      note: `${sample.length} ticks; the v1 writer's insert without candles, one at a time`,
    });
  }

  // The writer's transaction alone, called in this process one at a time: the database's share of the work.
  for (const [label, write] of [
    ['writeTickBatch', (batch: TickBatch) => writeTickBatch(ctx.sql, batch, { candleKeep: CANDLE_KEEP })],
    ['v1: writeTickBatchV1', (batch: TickBatch) => writeTickBatchV1(v1Sql, batch, { candleKeep: CANDLE_KEEP })],
  ] as const) {
    for (const size of [5000, 20_000]) {
      await resetState(ctx);
      const sample = ticks.slice(0, Math.min(ticks.length, 100_000));
      const started = performance.now();
      for (let i = 0; i < sample.length; i += size) await write({ ticks: sample.slice(i, i + size), rejections: [] });
      record(ctx, {
        scenario: 'throughput', metric: `${label} alone, ${size}-tick batches, one at a time`, value: sample.length / ((performance.now() - started) / 1000), unit: 'ticks/s',
        note: `${sample.length} ticks; no queue, no worker: the SQL the writer runs per flush`,
      });
    }
  }

  // 1 and 2 writers alternate, `repeats` times each: on a shared machine one run of each is a coin toss.
  const runs: Record<1 | 2, PipelineResult[]> = { 1: [], 2: [] };
  const v1Runs: Record<1 | 2, PipelineResult[]> = { 1: [], 2: [] };
  for (let r = 0; r < o.repeats; r++) {
    for (const writers of [1, 2] as const) runs[writers].push(await measurePipeline(ctx, jobs, writers));
    // The baseline in between, so both paths see the same stretch of the machine's noise.
    if (r === 0) for (const writers of [1, 2] as const) v1Runs[writers].push(await measurePipeline(ctx, jobs, writers, { WRITER_WRITE_PATH: 'v1' }));
  }
  const one = median(runs[1]);
  const two = median(runs[2]);
  const v1One = median(v1Runs[1]);
  const v1Two = median(v1Runs[2]);
  ctx.shared.pipelineRate = one.rate;
  report(ctx, '1 writer', one, runs[1]);
  record(ctx, { scenario: 'throughput', metric: 'ratio end-to-end (1 writer) / COPY', value: one.rate / copyRate, unit: '' });
  report(ctx, '2 writers', two, runs[2]);
  record(ctx, { scenario: 'throughput', metric: 'ratio 2 writers / 1 writer', value: two.rate / one.rate, unit: '' });
  record(ctx, { scenario: 'throughput', metric: 'ratio end-to-end (2 writers) / COPY', value: two.rate / copyRate, unit: '' });
  report(ctx, 'v1, 1 writer', v1One, v1Runs[1]);
  report(ctx, 'v1, 2 writers', v1Two, v1Runs[2]);
  record(ctx, { scenario: 'throughput', metric: 'v1: ratio end-to-end (1 writer) / COPY into v1 ticks', value: v1One.rate / v1CopyRate, unit: '' });
  record(ctx, { scenario: 'throughput', metric: 'v1: ratio 2 writers / 1 writer', value: v1Two.rate / v1One.rate, unit: '' });
  record(ctx, { scenario: 'throughput', metric: 'ratio end-to-end new / v1', value: one.rate / v1One.rate, unit: '', note: '1 writer each' });
  record(ctx, { scenario: 'throughput', metric: 'ratio end-to-end new / v1 (2 writers)', value: two.rate / v1Two.rate, unit: '' });
  record(ctx, { scenario: 'throughput', metric: 'ratio end-to-end (1 writer) / COPY into v1 ticks', value: one.rate / v1CopyRate, unit: '', note: 'the new path against the old table\'s COPY ceiling' });

  // Storage must not wait for readers: a live client that never reads should cost nothing beyond noise.
  const stalled = await withStalledLiveReader(ctx, symbols, () => measurePipeline(ctx, jobs, 1));
  record(ctx, {
    scenario: 'throughput', metric: 'end-to-end, 1 writer, with a live client that never reads', value: stalled.result.rate, unit: 'ticks/s',
    note: `ratio to the run without ${(stalled.result.rate / one.rate).toFixed(2)}; dashboard dropped ${stalled.dropped} events`,
  });
}

/** The run with the median rate (of two: the slower one, so a lucky run does not make the figure). */
function median(runs: readonly PipelineResult[]): PipelineResult {
  const sorted = [...runs].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function report(ctx: BenchContext, label: string, r: PipelineResult, all: readonly PipelineResult[]): void {
  record(ctx, {
    scenario: 'throughput', metric: `end-to-end queue → writer, ${label}`, value: r.rate, unit: 'ticks/s',
    note: `${all.length > 1 ? `median of runs ${all.map((x) => Math.round(x.rate).toLocaleString('en-US')).join(', ')}; ` : ''}enqueue alone ${Math.round(r.enqueueRate).toLocaleString('en-US')}/s; ${r.candles} candles`,
  });
  record(ctx, {
    scenario: 'throughput', metric: `  flushes (${label}): count / avg ms / avg ticks`, value: `${r.flushes} / ${Math.round(r.avgFlushMs)} / ${Math.round(r.avgBatchTicks)}`, unit: '',
  });
  record(ctx, { scenario: 'throughput', metric: `  CPU cores used (${label})`, value: r.cpu, unit: '' });
  record(ctx, { scenario: 'throughput', metric: `  writer backends by state (${label})`, value: r.backends, unit: '', note: 'average over pg_stat_activity samples' });
}

/** Runs `measure` while a dashboard process serves one SSE client that never reads its socket. */
async function withStalledLiveReader<T>(ctx: BenchContext, symbols: readonly string[], measure: () => Promise<T>): Promise<{ result: T; dropped: string }> {
  const dashboard = new ServiceProcess(repoPath('apps/dashboard/src/main.ts'), {
    DATABASE_URL: ctx.databaseUrl,
    REDIS_URL: ctx.redisUrl,
    QUEUE_PREFIX: ctx.prefix,
    DASHBOARD_AUTH: 'off',
    DASHBOARD_PORT: '0',
    HEALTH_PORT: '0',
    LOG_LEVEL: 'info',
    CRYPTO_SYMBOLS: symbols.slice(0, 3).join(','),
  });
  const started = await dashboard.waitForLog((l) => l.msg === 'dashboard started', 30_000);
  const series = symbols.slice(0, 10).map((s) => `sim:${s}`).join(',');
  const socket = net.connect(started.port as number, '127.0.0.1');
  socket.pause(); // never read: the kernel buffers fill, then the server must cope on its own
  socket.write(`GET /api/stream?series=${encodeURIComponent(series)}&timeframe=1m HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`);
  try {
    const result = await measure();
    const metrics = await (await fetch(`http://127.0.0.1:${started.healthPort as number}/metrics`)).text();
    const dropped = /^tickvault_dashboard_stream_dropped_events(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? 'an unknown number of';
    return { result, dropped };
  } finally {
    socket.destroy();
    await dashboard.stop();
  }
}

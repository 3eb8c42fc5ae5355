import { log, prepareTickRows, record, resetState, symbolsOf, ticksAt, toJobs, type BenchContext } from '../lib.js';
import { measurePipeline } from '../pipeline.js';

export interface BaselineOptions {
  ticks: number;
  symbols: number;
}

/**
 * The two naive designs the pipeline replaces, on a smaller sample: one queue job per tick (the
 * writer as is), and one single-row INSERT ... ON CONFLICT per tick straight into ticks (no queue,
 * no candles: flattering to the baseline). Each is reported against the real pipeline's rate.
 */
export async function baselines(ctx: BenchContext, o: BaselineOptions): Promise<void> {
  const symbols = symbolsOf(o.symbols);
  const ticks = ticksAt(0, o.ticks, { symbols, startMs: Date.now() - 3 * 3_600_000, stepMs: 50 });
  log(`baselines: ${o.ticks} ticks, ${o.symbols} symbols`);

  // The real pipeline's figure comes from the throughput scenario when it ran; else from this sample.
  let reference = ctx.shared.pipelineRate;
  let referenceNote = 'throughput scenario, 1 writer';
  if (reference === undefined) {
    reference = (await measurePipeline(ctx, toJobs(ticks, 500), 1)).rate;
    referenceNote = `pipeline on this ${o.ticks}-tick sample, 1 writer`;
    record(ctx, { scenario: 'baselines', metric: 'real pipeline (500 ticks per job), reference', value: reference, unit: 'ticks/s', note: referenceNote });
  }

  const perTick = await measurePipeline(ctx, toJobs(ticks, 1), 1);
  record(ctx, { scenario: 'baselines', metric: 'one job per tick (writer as is)', value: perTick.rate, unit: 'ticks/s', note: `CPU: ${perTick.cpu}` });
  record(ctx, { scenario: 'baselines', metric: '  ratio one-job-per-tick / real pipeline', value: perTick.rate / reference, unit: '', note: referenceNote });

  await resetState(ctx);
  const ids = await prepareTickRows(ctx.sql, ticks[0]!.source, symbols, Date.parse(ticks[0]!.ts), Date.parse(ticks.at(-1)!.ts));
  const started = performance.now();
  for (const t of ticks) {
    await ctx.sql`
      insert into tick_rows (series_id, ts, trade_id, price, size)
      values (${ids.get(`${t.source}/${t.symbol}`)!}, ${t.ts}::timestamptz, ${t.tradeId}, ${t.price}::numeric, ${t.size}::numeric)
      on conflict on constraint tick_rows_key do nothing`;
  }
  const insertRate = o.ticks / ((performance.now() - started) / 1000);
  const [stored] = await ctx.sql`select count(*)::int as n from ticks`;
  if (stored!.n !== o.ticks) throw new Error(`single-row inserts stored ${stored!.n} of ${o.ticks}`);
  record(ctx, { scenario: 'baselines', metric: 'one INSERT per tick (autocommit, no queue, no candles)', value: insertRate, unit: 'ticks/s' });
  record(ctx, { scenario: 'baselines', metric: '  ratio one-INSERT-per-tick / real pipeline', value: insertRate / reference, unit: '', note: referenceNote });
  await resetState(ctx);
}

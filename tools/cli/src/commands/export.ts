import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { loadConfigOrExit, maskUrl, type EnvName } from '@tickvault/config';
import {
  createDb, exportCandles, exportTicks, seriesExists, type ExportCandleRow, type ExportTickRow, type Sql,
} from '@tickvault/db';
import { TIMEFRAMES, type Timeframe } from '@tickvault/schema';
import type { Command } from './command.js';
import { csvWriter, type ExportColumn, type ExportWriter } from './export-format.js';
import { parquetWriter } from './export-parquet.js';
import { parseInstant, parseOptions, UsageError } from '../args.js';
import { PROBE_TIMEOUT_SECONDS, safeErrorMessage } from '../probes.js';

const ENV = ['DATABASE_URL'] as const satisfies readonly EnvName[];

const USAGE = [
  'usage: tickvault export ticks|candles --source ID --symbol SYMBOL --from ISO [--to ISO] [--timeframe TF]',
  '                        [--format csv|parquet] [--out FILE]',
  '',
  'Writes one series\' ticks or candles in a window (from inclusive, to exclusive; --to defaults to now)',
  'as CSV (the default) or Parquet, streamed from a database cursor: memory stays flat however long the',
  'window. Ticks come in trade order (time, then trade id, as candles fold them), candles oldest first.',
  'Prices and sizes are the stored decimals as text, never rounded: "0.00012300" stays "0.00012300"',
  '(Parquet: UTF-8 string columns). Times are ISO-8601 UTC; tick times keep their microseconds.',
  '  ticks    columns ts, price, size, trade_id (empty / null when the source has no trade ids)',
  '  candles  columns open_time, open, high, low, close, volume, trade_count; needs --timeframe',
  `  --timeframe TF   one of ${TIMEFRAMES.join(', ')}`,
  '  --format F       csv (default) or parquet',
  '  --out FILE       write FILE (via FILE.partial, renamed when complete) instead of standard output;',
  '                   Parquet to standard output only when it is not a terminal',
  'Exit 1 when the series was never stored or the database fails; 2 on a wrong command line.',
  '',
].join('\n');

const FORMATS = ['csv', 'parquet'] as const;
type ExportFormat = (typeof FORMATS)[number];
// Rows per cursor fetch: large enough that round trips do not dominate, small enough to be nothing in memory.
const CURSOR_BATCH_ROWS = 5000;

const TICK_COLUMNS: readonly ExportColumn<ExportTickRow>[] = [
  { name: 'ts', value: (r) => r.ts, parquet: 'STRING' },
  { name: 'price', value: (r) => r.price, parquet: 'STRING' },
  { name: 'size', value: (r) => r.size, parquet: 'STRING' },
  { name: 'trade_id', value: (r) => r.trade_id, parquet: 'STRING' },
];

const CANDLE_COLUMNS: readonly ExportColumn<ExportCandleRow>[] = [
  { name: 'open_time', value: (r) => r.open_time, parquet: 'STRING' },
  { name: 'open', value: (r) => r.open, parquet: 'STRING' },
  { name: 'high', value: (r) => r.high, parquet: 'STRING' },
  { name: 'low', value: (r) => r.low, parquet: 'STRING' },
  { name: 'close', value: (r) => r.close, parquet: 'STRING' },
  { name: 'volume', value: (r) => r.volume, parquet: 'STRING' },
  { name: 'trade_count', value: (r) => String(r.trade_count), parquet: 'INT32' },
];

export interface ExportOptions {
  kind: 'ticks' | 'candles';
  source: string;
  symbol: string;
  timeframe: Timeframe | undefined;
  from: Date;
  to: Date;
  format: ExportFormat;
  out: string | undefined;
}

export function parseExportArgs(args: string[], now: Date): ExportOptions {
  const { values, positionals } = parseOptions(
    args,
    {
      source: { type: 'string' },
      symbol: { type: 'string' },
      timeframe: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
    },
    true,
  );
  const [kind, ...extra] = positionals;
  if (kind !== 'ticks' && kind !== 'candles') throw new UsageError(`say what to export: ticks or candles${kind === undefined ? '' : ` (got "${kind}")`}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.source === undefined) throw new UsageError('--source is required');
  if (values.symbol === undefined) throw new UsageError('--symbol is required');
  if (values.from === undefined) throw new UsageError('--from is required');
  const from = parseInstant(values.from, '--from');
  const to = values.to === undefined ? now : parseInstant(values.to, '--to');
  if (from >= to) throw new UsageError(`--to must be later than --from (${from.toISOString()} .. ${to.toISOString()})`);
  let timeframe: Timeframe | undefined;
  if (kind === 'candles') {
    if (values.timeframe === undefined) throw new UsageError(`candles need --timeframe (one of ${TIMEFRAMES.join(', ')})`);
    if (!(TIMEFRAMES as readonly string[]).includes(values.timeframe)) {
      throw new UsageError(`--timeframe must be one of ${TIMEFRAMES.join(', ')} (got "${values.timeframe}")`);
    }
    timeframe = values.timeframe as Timeframe;
  } else if (values.timeframe !== undefined) {
    throw new UsageError('--timeframe is for candles only');
  }
  const format = values.format ?? 'csv';
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be csv or parquet (got "${format}")`);
  if (values.out === '') throw new UsageError('--out needs a file name');
  return { kind, source: values.source, symbol: values.symbol, timeframe, from, to, format: format as ExportFormat, out: values.out };
}

export interface StreamExportHooks {
  /** Rows per cursor fetch (tests make it small). */
  batchSize?: number;
  /** Called after each fetch with the rows fetched so far, before they are written. */
  onFetched?: (rowsSoFar: number) => void;
  /** Rows per Parquet row group (tests make it small). */
  rowGroupRows?: number;
}

function writerFor<Row>(format: ExportFormat, out: Writable, columns: readonly ExportColumn<Row>[], hooks: StreamExportHooks): ExportWriter<Row> {
  return format === 'csv' ? csvWriter(out, columns) : parquetWriter(out, columns, hooks.rowGroupRows);
}

/** Streams the rows into `out` (left open) and resolves to how many were written. */
export async function streamExport(sql: Sql, options: ExportOptions, out: Writable, hooks: StreamExportHooks = {}): Promise<number> {
  const window = { source: options.source, symbol: options.symbol, from: options.from, to: options.to, batchSize: hooks.batchSize ?? CURSOR_BATCH_ROWS };
  let fetched = 0;
  if (options.kind === 'ticks') {
    const writer = writerFor(options.format, out, TICK_COLUMNS, hooks);
    const count = await exportTicks(sql, window, async (rows) => {
      fetched += rows.length;
      hooks.onFetched?.(fetched);
      await writer.writeBatch(rows);
    });
    await writer.finish();
    return count;
  }
  const writer = writerFor(options.format, out, CANDLE_COLUMNS, hooks);
  const count = await exportCandles(sql, { ...window, timeframe: options.timeframe! }, async (rows) => {
    fetched += rows.length;
    hooks.onFetched?.(fetched);
    await writer.writeBatch(rows);
  });
  await writer.finish();
  return count;
}

export const exportCommand: Command = {
  summary: 'write one series\' ticks or candles in a window as CSV or Parquet, streamed (--source, --symbol, --from, --out)',
  usage: USAGE,
  env: ENV,
  async run(args) {
    const options = parseExportArgs(args, new Date());
    if (options.format === 'parquet' && options.out === undefined && process.stdout.isTTY) {
      throw new UsageError('Parquet is binary: give --out FILE or redirect standard output');
    }
    const config = loadConfigOrExit('export', ENV);
    // No statement time limit: a month of ticks is one long query by design.
    const sql = createDb(config.DATABASE_URL, { max: 1, connectTimeoutSeconds: PROBE_TIMEOUT_SECONDS, applicationName: 'tickvault-export', statementTimeoutMs: 0 });
    const series = `${options.source}:${options.symbol}`;
    const partial = options.out === undefined ? undefined : `${options.out}.partial`;
    let file: Writable | undefined;
    let outputError: Error | undefined;
    try {
      if (!(await seriesExists(sql, options.source, options.symbol))) {
        process.stderr.write(`export: unknown series ${series}: nothing was ever stored for it (\`tickvault report\` lists the stored series)\n`);
        return 1;
      }
      file = partial === undefined ? undefined : createWriteStream(partial);
      const out = file ?? process.stdout;
      // Failures (ENOSPC, EACCES) surface through the next write; without a listener one between writes
      // would crash the process with a stack trace. (A closed stdout pipe, `| head`, ends it in main.ts.)
      out.on('error', (error: Error) => (outputError = error));
      const count = await streamExport(sql, options, out);
      if (file && partial && options.out) {
        file.end();
        await finished(file);
        await rename(partial, options.out);
      }
      const what = options.kind === 'ticks' ? 'ticks' : `${options.timeframe} candles`;
      process.stderr.write(
        `exported ${count} ${what} of ${series} from ${options.from.toISOString()} to ${options.to.toISOString()} as ${options.format}` +
          `${options.out === undefined ? '' : ` to ${options.out}`}\n`,
      );
      return 0;
    } catch (error) {
      const where = outputError ? `writing ${options.out ?? 'standard output'}` : `against ${maskUrl(config.DATABASE_URL)}`;
      process.stderr.write(`export of ${series} failed ${where}: ${safeErrorMessage(outputError ?? error)}\n`);
      if (file) {
        file.destroy();
        await rm(partial!, { force: true });
      }
      return 1;
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
};

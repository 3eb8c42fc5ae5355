import { loadConfigOrExit, maskUrl, type EnvName } from '@tickvault/config';
import { verifyCandles, type CandleMismatch } from '@tickvault/db';
import type { Command } from './command.js';
import { parseInstant, parseOptions } from '../args.js';
import { formatTime } from '../format.js';
import { createProbeDb, safeErrorMessage } from '../probes.js';

const ENV = ['DATABASE_URL', 'TICK_RETENTION_DAYS', 'MACRO_TICK_RETENTION_DAYS'] as const satisfies readonly EnvName[];

const USAGE = [
  'usage: tickvault verify [--from ISO] [--to ISO] [--source ID] [--symbol SYMBOL] [--json]',
  '',
  'Recomputes every stored candle whose whole bucket lies in the window from the stored ticks and bars,',
  'in SQL, and lists each one that differs, is missing or has no ticks. The window is the last 24 hours',
  'unless --from / --to say otherwise (ISO-8601 with a zone); it never reaches past tick retention.',
  '  --source ID, --symbol SYMBOL  only that source or symbol',
  '  --json                        one JSON document with every mismatch',
  'Exit 0 when every candle matches, 1 on any mismatch or failure, 2 when the window is empty.',
  '',
].join('\n');
const DAY_MS = 86_400_000;
const DEFAULT_WINDOW_MS = DAY_MS;
// verifyCandles returns at most this many mismatches; past it the list is a sample.
const MISMATCH_LIST_LIMIT = 1000;
const CANDLE_FIELDS = ['open', 'high', 'low', 'close', 'volume', 'trade_count'] as const;

export interface VerifyWindow {
  from: Date;
  to: Date;
  /** The --from asked for, when it reached past tick retention and was moved forward. */
  requestedFrom: Date | null;
}

/**
 * Ticks older than retention are trimmed while their candles stay, so a window reaching past the
 * horizon would report those candles as wrong. The shorter of the two retentions is used: the
 * window is one for every series, and a check skipped is better than a false alarm.
 */
export function verifyWindow(now: number, retentionDays: number, from: Date | undefined, to: Date | undefined): VerifyWindow {
  const end = to ?? new Date(now);
  const start = from ?? new Date(end.getTime() - DEFAULT_WINDOW_MS);
  const horizon = new Date(now - retentionDays * DAY_MS);
  if (start < horizon) return { from: horizon, to: end, requestedFrom: start };
  return { from: start, to: end, requestedFrom: null };
}

function describeValues(values: CandleMismatch['stored']): string {
  if (!values) return '-';
  return CANDLE_FIELDS.map((f) => `${f}=${values[f] ?? 'null'}`).join(' ');
}

/** For a candle that differs, only the fields that differ: a full OHLCV pair hides the one that matters. */
export function describeMismatch(m: CandleMismatch): string {
  if (m.problem === 'missing') return `missing: no stored candle; expected ${describeValues(m.expected)}`;
  if (m.problem === 'unexpected') return `unexpected: stored ${describeValues(m.stored)} but no ticks for it`;
  const diffs = CANDLE_FIELDS.filter((f) => String(m.stored?.[f]) !== String(m.expected?.[f])).map(
    (f) => `${f} stored ${m.stored?.[f] ?? 'null'} expected ${m.expected?.[f] ?? 'null'}`,
  );
  // Decimals that are equal as numbers may still differ as text (1.50 vs 1.5); then list everything.
  return `different: ${diffs.length > 0 ? diffs.join(', ') : `stored ${describeValues(m.stored)} expected ${describeValues(m.expected)}`}`;
}

export const verifyCommand: Command = {
  summary: 'recompute candles from stored ticks and compare (--from/--to ISO, default last 24 h; --source, --symbol, --json)',
  usage: USAGE,
  env: ENV,
  async run(args) {
    const { values } = parseOptions(args, {
      from: { type: 'string' },
      to: { type: 'string' },
      source: { type: 'string' },
      symbol: { type: 'string' },
      json: { type: 'boolean' },
    });
    const options = {
      from: values.from === undefined ? undefined : parseInstant(values.from, '--from'),
      to: values.to === undefined ? undefined : parseInstant(values.to, '--to'),
      source: values.source,
      symbol: values.symbol,
      json: values.json ?? false,
    };

    const config = loadConfigOrExit('verify', ENV);
    const retentionDays = Math.min(config.TICK_RETENTION_DAYS, config.MACRO_TICK_RETENTION_DAYS);
    const window = verifyWindow(Date.now(), retentionDays, options.from, options.to);
    if (window.from >= window.to) {
      process.stderr.write(
        `nothing to verify: the window ends at ${window.to.toISOString()}, before the tick retention horizon ` +
          `${window.from.toISOString()} (${retentionDays} days); older ticks are trimmed\n`,
      );
      return 2;
    }

    const sql = createProbeDb(config.DATABASE_URL, 'tickvault-verify');
    let result;
    try {
      result = await verifyCandles(sql, { from: window.from, to: window.to, source: options.source, symbol: options.symbol });
    } catch (error) {
      process.stderr.write(`verify failed against ${maskUrl(config.DATABASE_URL)}: ${safeErrorMessage(error)}\n`);
      return 1;
    } finally {
      await sql.end({ timeout: 2 });
    }

    const truncated = result.mismatches.length >= MISMATCH_LIST_LIMIT;
    if (options.json) {
      const document = {
        from: window.from.toISOString(),
        to: window.to.toISOString(),
        requestedFrom: window.requestedFrom?.toISOString() ?? null,
        source: options.source ?? null,
        symbol: options.symbol ?? null,
        checked: result.checked,
        mismatchCount: result.mismatches.length,
        truncated,
        mismatches: result.mismatches,
      };
      process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      return result.mismatches.length > 0 ? 1 : 0;
    }

    const scope = [options.source ? `source ${options.source}` : 'all sources', options.symbol ? `symbol ${options.symbol}` : 'all symbols'].join(', ');
    if (window.requestedFrom) {
      process.stdout.write(
        `note: --from moved from ${formatTime(window.requestedFrom)} to ${formatTime(window.from)} UTC: ticks older than ${retentionDays} days are trimmed\n`,
      );
    }
    process.stdout.write(
      `checked ${result.checked} candles from ${formatTime(window.from)} to ${formatTime(window.to)} UTC (${scope}; only candles whose whole bucket lies in the window)\n`,
    );
    if (result.mismatches.length === 0) {
      process.stdout.write('ok: every stored candle matches its ticks\n');
      return 0;
    }
    const count = result.mismatches.length;
    process.stdout.write(`${count}${truncated ? '+ (list truncated)' : ''} mismatch${count === 1 ? '' : 'es'}:\n`);
    for (const m of result.mismatches) {
      process.stdout.write(`  ${m.source}:${m.symbol}  ${m.timeframe.padEnd(3)}  ${m.openTime}  ${describeMismatch(m)}\n`);
    }
    return 1;
  },
};

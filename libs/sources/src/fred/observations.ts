import { isRealInstant, isValidPrice, SYMBOL_PATTERNS } from '@tickvault/schema';
import type { Observation, SourceRejection } from '../source.js';
import { isObject, SAMPLE_CHARS } from '../kit/checks.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export class FredSeriesError extends Error {}

/** FRED series ids are tickvault's macro symbols as they are (`DGS10`, `CPIAUCSL`). */
export function checkSeriesId(symbol: string): string {
  if (!SYMBOL_PATTERNS.macro.test(symbol)) throw new FredSeriesError(`"${symbol}" is not a FRED series id (DGS10, CPIAUCSL)`);
  return symbol;
}

export interface RowContext {
  now: number;
  maxFutureMs: number;
}

export type RowCheck =
  | { kind: 'observation'; observation: Observation }
  /** FRED's missing-value marker (`.`, or an empty field in fredgraph CSV): no value that day, not bad data. */
  | { kind: 'missing' }
  | { kind: 'rejected'; rejection: SourceRejection };

const rejected = (symbol: string, reason: SourceRejection['reason'], detail: string, sample: string): RowCheck => ({
  kind: 'rejected',
  rejection: { symbol, reason, detail, sample: sample.slice(0, SAMPLE_CHARS) },
});

/**
 * One observation (`{"date":"2024-01-02","value":"3.95"}` or a CSV line) checked field by field: the
 * date a real calendar date not ahead of the clock, the value a decimal as FRED wrote it (rates and
 * spreads may be zero or negative). The instant is the period start at midnight UTC.
 */
export function checkRow(seriesId: string, date: unknown, value: unknown, sample: string, ctx: RowContext): RowCheck {
  if (typeof date !== 'string' || !DATE.test(date) || !isRealInstant(`${date}T00:00:00Z`)) {
    return rejected(seriesId, 'invalid_timestamp', `date ${JSON.stringify(date)} is not a YYYY-MM-DD date`, sample);
  }
  const ts = `${date}T00:00:00Z`;
  if (Date.parse(ts) > ctx.now + ctx.maxFutureMs) {
    return rejected(seriesId, 'future_timestamp', `date ${date} is ahead of the clock by more than ${ctx.maxFutureMs} ms`, sample);
  }
  if (value === '.' || value === '') return { kind: 'missing' };
  if (typeof value !== 'string' || !isValidPrice('macro', value)) {
    return rejected(seriesId, 'invalid_price', `value ${JSON.stringify(value)} is not a decimal`, sample);
  }
  return { kind: 'observation', observation: { symbol: seriesId, ts, price: value, size: '0', tradeId: null } };
}

export interface RawRow {
  date: unknown;
  value: unknown;
  sample: string;
}

export type JsonPage =
  | { kind: 'page'; rows: RawRow[]; count: number; offset: number }
  | { kind: 'rejected'; detail: string };


/** A `series/observations?file_type=json` body: the envelope's count/offset for paging, and the rows. */
export function parseObservationsJson(text: string): JsonPage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return { kind: 'rejected', detail: `observations body is not JSON: ${(error as Error).message}` };
  }
  if (!isObject(body) || !Array.isArray(body.observations)) return { kind: 'rejected', detail: 'observations body without an observations array' };
  const count = typeof body.count === 'number' ? body.count : body.observations.length;
  const offset = typeof body.offset === 'number' ? body.offset : 0;
  const rows = body.observations.map((o: unknown): RawRow => {
    const sample = JSON.stringify(o) ?? String(o);
    return isObject(o) ? { date: o.date, value: o.value, sample } : { date: undefined, value: undefined, sample };
  });
  return { kind: 'page', rows, count, offset };
}

export type CsvRows = { kind: 'rows'; rows: RawRow[]; bad: string[] } | { kind: 'rejected'; detail: string };

/**
 * A fredgraph CSV: a header `observation_date,<ID>` (older files: `DATE,<ID>`), then `date,value`
 * lines; a missing value is an empty field (older files: `.`). Anything else is not this file.
 */
export function parseGraphCsv(text: string, seriesId: string): CsvRows {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  const header = lines[0]?.split(',').map((h) => h.trim()) ?? [];
  if (header.length !== 2 || header[1]!.toUpperCase() !== seriesId.toUpperCase()) {
    return { kind: 'rejected', detail: `not a fredgraph CSV for ${seriesId}: header ${JSON.stringify((lines[0] ?? '').slice(0, 100))}` };
  }
  const rows: RawRow[] = [];
  const bad: string[] = [];
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    if (fields.length !== 2) bad.push(line);
    else rows.push({ date: fields[0]!.trim(), value: fields[1]!.trim(), sample: line });
  }
  return { kind: 'rows', rows, bad };
}

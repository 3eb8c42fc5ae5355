import { z } from 'zod';
import { SOURCE_ID_PATTERN, TIMEFRAMES } from '@tickvault/schema';

/** Bounds of the read API: every answer is a bounded number of rows from a bounded window. */
export const DEFAULT_LIMIT = 500;
export const MAX_LIMIT = 5000;
export const MAX_TICK_RANGE_MS = 31 * 86_400_000;
export const MAX_SERIES_PER_REQUEST = 50;

/** A bad query parameter; the API answers 400 `{ error, parameter }`. */
export class ParameterError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter} ${message}`);
    this.name = 'ParameterError';
  }
}

export const sourceParam = z.string().regex(SOURCE_ID_PATTERN, 'must be a source id such as sim');
// Loose on purpose: any normalized symbol of any asset class; unknown ones simply match nothing.
export const symbolParam = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9/._-]{0,63}$/, 'must be a symbol such as BTC/USDT');
export const timeframeParam = z.enum(TIMEFRAMES, { message: `must be one of ${TIMEFRAMES.join(', ')}` });
export const timeParam = z.iso
  .datetime({ offset: true, message: 'must be an ISO-8601 time such as 2024-05-01T00:00:00Z' })
  .transform((value) => new Date(value));
export const limitParam = z
  .string()
  .regex(/^\d+$/, `must be a whole number from 1 to ${MAX_LIMIT}`)
  .transform(Number)
  .pipe(z.number().int().min(1, `must be from 1 to ${MAX_LIMIT}`).max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`))
  .default(DEFAULT_LIMIT);

export interface SeriesRef {
  source: string;
  symbol: string;
}

/** `sim:BTC/USDT,sim:ETH/USDT`: source and symbol split at the first colon. */
export const seriesListParam = z
  .string()
  .transform((value, ctx): SeriesRef[] => {
    const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one series as source:symbol, e.g. sim:BTC/USDT' });
    if (items.length > MAX_SERIES_PER_REQUEST) ctx.addIssue({ code: 'custom', message: `may name at most ${MAX_SERIES_PER_REQUEST} series` });
    const out: SeriesRef[] = [];
    for (const item of items) {
      const colon = item.indexOf(':');
      const source = item.slice(0, colon);
      const symbol = item.slice(colon + 1);
      if (colon < 0 || !sourceParam.safeParse(source).success || !symbolParam.safeParse(symbol).success) {
        ctx.addIssue({ code: 'custom', message: `"${item.slice(0, 80)}" is not a series of the form source:symbol, e.g. sim:BTC/USDT` });
        continue;
      }
      out.push({ source, symbol });
    }
    return out;
  });

type Shape = Record<string, z.ZodType<unknown, string | undefined>>;
type Parsed<S extends Shape> = { [K in keyof S]: z.output<S[K]> };

/**
 * Validates a query string against `shape`, one parameter at a time in the order declared, so the
 * error names the first bad one. Unknown and repeated parameters are refused too: a misspelt `limt`
 * silently ignored would return something other than what was asked for.
 */
export function parseQuery<S extends Shape>(query: Record<string, unknown>, shape: S): Parsed<S> {
  for (const name of Object.keys(query)) {
    if (!Object.hasOwn(shape, name)) throw new ParameterError(name, `is not a parameter here (expected: ${Object.keys(shape).join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(shape)) {
    const raw = query[name];
    if (Array.isArray(raw)) throw new ParameterError(name, 'must be given once');
    if (raw !== undefined && typeof raw !== 'string') throw new ParameterError(name, 'is malformed');
    const result = schema.safeParse(raw === '' ? undefined : raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      const missing = raw === undefined || raw === '';
      throw new ParameterError(name, missing && issue?.code === 'invalid_type' ? 'is required' : (issue?.message ?? 'is invalid'));
    }
    out[name] = result.data;
  }
  return out as Parsed<S>;
}

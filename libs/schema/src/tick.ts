import { z } from 'zod';
import { isoMicros } from './instant.js';
import { AssetClassSchema, SOURCE_ID_PATTERN, SYMBOL_PATTERNS, type AssetClass } from './market.js';

/**
 * Decimals travel as the source wrote them, as strings, so nothing is rounded through a float.
 * Bounds keep every accepted value inside what PostgreSQL numeric stores without surprise.
 */
export const UNSIGNED_DECIMAL = /^(0|[1-9]\d{0,19})(\.\d{1,20})?$/;
const SIGNED_DECIMAL = /^-?(0|[1-9]\d{0,19})(\.\d{1,20})?$/;
const NON_ZERO = /[1-9]/;

/** UTC ISO-8601 with at most microseconds, the precision of timestamptz. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

export const MAX_TRADE_ID_LENGTH = 64;
// Visible ASCII only: exchange trade ids are numbers or UUIDs, and PostgreSQL text cannot hold NUL.
const TRADE_ID = /^[\x21-\x7e]+$/;

export const TickSchema = z
  .object({
    source: z.string().regex(SOURCE_ID_PATTERN, 'source id must be lowercase letters, digits, - or _'),
    symbol: z.string().max(41),
    assetClass: AssetClassSchema,
    ts: z
      .string()
      .regex(ISO_UTC, 'timestamp must be UTC ISO-8601 (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)')
      .refine(isRealInstant, 'timestamp is not a real date'),
    price: z.string().max(42),
    size: z.string().regex(UNSIGNED_DECIMAL, 'size must be a non-negative decimal string'),
    // Visible ASCII only: exchange trade ids are numbers or UUIDs, and PostgreSQL text cannot hold NUL.
    tradeId: z.string().min(1).max(MAX_TRADE_ID_LENGTH).regex(TRADE_ID, 'trade id must be visible ASCII').nullable(),
  })
  .strict()
  .superRefine((tick, ctx) => {
    if (!SYMBOL_PATTERNS[tick.assetClass].test(tick.symbol)) {
      ctx.addIssue({ code: 'custom', path: ['symbol'], message: `symbol not in the normalized ${tick.assetClass} form` });
    }
    if (!isValidPrice(tick.assetClass, tick.price)) {
      ctx.addIssue({
        code: 'custom',
        path: ['price'],
        message: tick.assetClass === 'macro' ? 'value must be a finite decimal string' : 'price must be a positive decimal string',
      });
    }
  });

export type Tick = z.infer<typeof TickSchema>;

/** Trades have positive prices; macro observations (rates, spreads) may be zero or negative. */
export function isValidPrice(assetClass: AssetClass, price: string): boolean {
  if (assetClass === 'macro') return SIGNED_DECIMAL.test(price);
  return UNSIGNED_DECIMAL.test(price) && NON_ZERO.test(price);
}

export const REJECT_REASONS = [
  'malformed',
  'invalid_source',
  'invalid_symbol',
  'unknown_symbol',
  'invalid_price',
  'invalid_size',
  'invalid_timestamp',
  'future_timestamp',
  'older_than_retention',
  'invalid_trade_id',
  'oversized',
  'invalid_bar',
] as const;
export const RejectReasonSchema = z.enum(REJECT_REASONS);
export type RejectReason = z.infer<typeof RejectReasonSchema>;

const REASON_BY_FIELD: Record<string, RejectReason> = {
  source: 'invalid_source',
  symbol: 'invalid_symbol',
  assetClass: 'malformed',
  ts: 'invalid_timestamp',
  price: 'invalid_price',
  size: 'invalid_size',
  tradeId: 'invalid_trade_id',
};

export type TickCheck =
  | { ok: true; tick: Tick }
  | { ok: false; reason: RejectReason; detail: string };

export interface TickTimeBounds {
  /** Ticks later than now + this are refused: a clock or parsing error upstream, not a trade. */
  maxFutureMs: number;
  /** Ticks older than this instant are past retention: storing them would only trim them again. */
  notBefore?: (assetClass: AssetClass) => number;
}

/** Validates one tick as received; never throws. */
export function checkTick(input: unknown, now: number, bounds: TickTimeBounds): TickCheck {
  const fast = wellFormedTick(input);
  if (fast) return checkTime(fast.tick, Math.floor(fast.us / 1000), now, bounds);
  const shapeProblem = describeShapeProblem(input);
  if (shapeProblem) return { ok: false, reason: 'malformed', detail: shapeProblem };
  const parsed = TickSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = typeof issue?.path[0] === 'string' ? issue.path[0] : '';
    const reason = REASON_BY_FIELD[field] ?? 'malformed';
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason, detail: `${where}${issue?.message ?? 'invalid tick'}` };
  }
  return checkTime(parsed.data, Date.parse(parsed.data.ts), now, bounds);
}

function checkTime(tick: Tick, at: number, now: number, bounds: TickTimeBounds): TickCheck {
  if (at > now + bounds.maxFutureMs) {
    return { ok: false, reason: 'future_timestamp', detail: `ts ${tick.ts} is ahead of the clock by more than ${bounds.maxFutureMs} ms` };
  }
  const notBefore = bounds.notBefore?.(tick.assetClass);
  if (notBefore !== undefined && at < notBefore) {
    return {
      ok: false,
      reason: 'older_than_retention',
      detail: `ts ${tick.ts} is older than the retention horizon ${new Date(notBefore).toISOString()}`,
    };
  }
  return { ok: true, tick };
}

/** Formats an instant as the tick wire form (millisecond precision). */
export function toTickTime(ms: number): string {
  return new Date(ms).toISOString();
}

const TICK_FIELDS = ['source', 'symbol', 'assetClass', 'ts', 'price', 'size', 'tradeId'] as const;

/**
 * The writer validates every tick it stores: this accepts exactly the ticks TickSchema accepts, in a
 * fraction of its time, and returns undefined for anything else (TickSchema then says what is wrong).
 */
function wellFormedTick(input: unknown): { tick: Tick; us: number } | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
  const t = input as Record<string, unknown>;
  let keys = 0;
  for (const key in t) {
    if (!Object.hasOwn(t, key)) continue;
    if (!(TICK_FIELDS as readonly string[]).includes(key)) return undefined;
    keys++;
  }
  if (keys !== TICK_FIELDS.length) return undefined;
  const { source, symbol, assetClass, ts, price, size, tradeId } = t;
  if (typeof source !== 'string' || !SOURCE_ID_PATTERN.test(source)) return undefined;
  if (assetClass !== 'crypto' && assetClass !== 'stock' && assetClass !== 'macro') return undefined;
  if (typeof symbol !== 'string' || symbol.length > 41 || !SYMBOL_PATTERNS[assetClass].test(symbol)) return undefined;
  if (typeof price !== 'string' || price.length > 42 || !isValidPrice(assetClass, price)) return undefined;
  if (typeof size !== 'string' || !UNSIGNED_DECIMAL.test(size)) return undefined;
  if (tradeId !== null && (typeof tradeId !== 'string' || tradeId.length < 1 || tradeId.length > MAX_TRADE_ID_LENGTH || !TRADE_ID.test(tradeId))) return undefined;
  if (typeof ts !== 'string') return undefined;
  const us = isoMicros(ts);
  if (us === undefined) return undefined;
  return { tick: { source, symbol, assetClass, ts, price, size, tradeId }, us };
}

/** Not an object, or missing or extra fields: the producer sent something else than a tick. */
function describeShapeProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return `expected a tick object, got ${Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input}`;
  }
  const missing = TICK_FIELDS.filter((f) => !(f in input));
  const extra = Object.keys(input).filter((k) => !(TICK_FIELDS as readonly string[]).includes(k));
  if (missing.length === 0 && extra.length === 0) return undefined;
  return [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unexpected ${extra.slice(0, 5).join(', ')}` : '']
    .filter(Boolean)
    .join('; ');
}

/** Date.parse rolls 2026-02-30 over to March 2nd; a real instant formats back to the same fields. */
export function isRealInstant(ts: string): boolean {
  const ms = Date.parse(ts);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === ts.slice(0, 19);
}

import { z } from 'zod';
import { SOURCE_ID_PATTERN, SYMBOL_PATTERNS } from './market.js';
import { ISO_UTC, isRealInstant, UNSIGNED_DECIMAL, type RejectReason, type TickTimeBounds } from './tick.js';

/**
 * A provider's own one-minute bar. Where one holds a minute it is that minute's candle: a later bar
 * for the same minute (Alpaca's updatedBars, Yahoo's forming bar) replaces it, and ticks of that
 * minute are stored without being folded in again, so no volume is counted twice.
 */
export const BarSchema = z
  .object({
    source: z.string().regex(SOURCE_ID_PATTERN, 'source id must be lowercase letters, digits, - or _'),
    symbol: z.string().max(41),
    assetClass: z.enum(['crypto', 'stock']),
    openTime: z
      .string()
      .regex(ISO_UTC, 'openTime must be UTC ISO-8601')
      .refine(isRealInstant, 'openTime is not a real date')
      .refine((t) => Date.parse(t) % 60_000 === 0, 'openTime must be the start of a minute'),
    open: z.string().regex(UNSIGNED_DECIMAL, 'open must be a positive decimal string'),
    high: z.string().regex(UNSIGNED_DECIMAL, 'high must be a positive decimal string'),
    low: z.string().regex(UNSIGNED_DECIMAL, 'low must be a positive decimal string'),
    close: z.string().regex(UNSIGNED_DECIMAL, 'close must be a positive decimal string'),
    volume: z.string().regex(UNSIGNED_DECIMAL, 'volume must be a non-negative decimal string'),
    tradeCount: z.number().int().nonnegative().max(2_000_000_000).nullable(),
    /** When the ingest service received it: the later of two versions of a minute's bar wins. */
    seenAt: z.string().regex(ISO_UTC, 'seenAt must be UTC ISO-8601').optional(),
  })
  .strict()
  .superRefine((bar, ctx) => {
    if (!SYMBOL_PATTERNS[bar.assetClass].test(bar.symbol)) {
      ctx.addIssue({ code: 'custom', path: ['symbol'], message: `symbol not in the normalized ${bar.assetClass} form` });
    }
    const { open, high, low, close } = bar;
    // A price the pattern refused has its own issue already; the bounds compare decimals only.
    if (![open, high, low, close].every((price) => UNSIGNED_DECIMAL.test(price))) return;
    if (!/[1-9]/.test(low)) ctx.addIssue({ code: 'custom', path: ['low'], message: 'prices must be positive' });
    // Compared as decimals, exactly: through Number, 1.00000000000000000001 would equal 1.
    const atMost = (a: string, b: string) => compareDecimals(a, b) <= 0;
    if (!(atMost(low, high) && atMost(open, high) && atMost(close, high) && atMost(low, open) && atMost(low, close))) {
      ctx.addIssue({ code: 'custom', path: ['high'], message: 'high/low do not bound open and close' });
    }
  });
export type Bar = z.infer<typeof BarSchema>;

export type BarCheck = { ok: true; bar: Bar } | { ok: false; reason: RejectReason; detail: string };

/**
 * a < b, a = b, a > b (-1, 0, 1) for two unsigned decimal strings (UNSIGNED_DECIMAL: no sign, no
 * exponent), exactly: digits beyond a double's precision count, and "1.50" equals "1.5".
 */
export function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  const [aw = '', af = ''] = a.split('.');
  const [bw = '', bf = ''] = b.split('.');
  const width = Math.max(af.length, bf.length);
  const x = BigInt(aw + af.padEnd(width, '0'));
  const y = BigInt(bw + bf.padEnd(width, '0'));
  return x < y ? -1 : x > y ? 1 : 0;
}

const REASON_BY_FIELD: Record<string, RejectReason> = {
  source: 'invalid_source',
  symbol: 'invalid_symbol',
  openTime: 'invalid_timestamp',
};

/** Validates one bar as received; never throws. */
export function checkBar(input: unknown, now: number, bounds: TickTimeBounds): BarCheck {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, reason: 'malformed', detail: 'expected a bar object' };
  }
  const parsed = BarSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = typeof issue?.path[0] === 'string' ? issue.path[0] : '';
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: REASON_BY_FIELD[field] ?? 'invalid_bar', detail: `${where}${issue?.message ?? 'invalid bar'}` };
  }
  const bar = parsed.data;
  const at = Date.parse(bar.openTime);
  if (at > now + bounds.maxFutureMs) {
    return { ok: false, reason: 'future_timestamp', detail: `bar ${bar.openTime} is ahead of the clock by more than ${bounds.maxFutureMs} ms` };
  }
  const notBefore = bounds.notBefore?.(bar.assetClass);
  if (notBefore !== undefined && at < notBefore) {
    return { ok: false, reason: 'older_than_retention', detail: `bar ${bar.openTime} is older than the retention horizon ${new Date(notBefore).toISOString()}` };
  }
  return { ok: true, bar };
}

/** Normalizes a minute start to the wire form (`...:00Z`). */
export function toBarTime(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}


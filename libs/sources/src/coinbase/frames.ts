import { isLosslessNumber } from 'lossless-json';
import { jsonIdInteger, jsonInteger } from '../kit/json-id.js';
import { EARLIEST_MS, isObject, LATEST_MS, parseObjectFrame, refusal, SAMPLE_CHARS, subscribedSymbol, idAndPrice, type CheckedTrade, type SubscribedCheckContext, type TradeCheck } from '../kit/checks.js';
import { compareDecimals, UNSIGNED_DECIMAL } from '@tickvault/schema';
import type { SourceBar, SourceRejection } from '../source.js';
import { fromCoinbaseProduct, type SubscribedProducts } from './symbols.js';

/** Frames above this are refused unread (`oversized`): a match message is about 350 bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;

export interface CoinbaseTrade extends CheckedTrade {
  /** Coinbase trade id: per product, an integer increasing by one per trade. */
  id: number;
  /** Trade time in microseconds since the epoch (Coinbase's precision). */
  timeUs: number;
}

export type MessageOutcome =
  /** `match`, or `last_match` (the last trade before the subscription, sent first). */
  | { kind: 'match'; trade: CoinbaseTrade; last: boolean; sequence: number | null }
  | { kind: 'heartbeat'; symbol: string; lastTradeId: number; sequence: number | null }
  | { kind: 'subscriptions'; matches: string[]; heartbeat: string[] }
  | { kind: 'error'; message: string; reason: string; detail: string }
  /** Message types this source does not use: Coinbase may add types at any time and clients are to ignore them. */
  | { kind: 'ignored'; type: string }
  | { kind: 'rejected'; rejection: SourceRejection };

export type CheckContext = SubscribedCheckContext<SubscribedProducts>;

const reject = refusal;
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Coinbase's `2014-11-07T08:19:27.028459Z` → the tick form (kept as sent up to microseconds; finer
 * digits are cut, which stays inside the same microsecond) and microseconds since the epoch.
 * Null for anything that is not a real UTC instant.
 */
export function parseCoinbaseTime(text: string): { ts: string; timeUs: number } | null {
  const m = ISO_TIME.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, fraction = ''] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const back = new Date(ms);
  // Date.UTC rolls 2026-02-30 over into March: a date that does not round-trip is not real.
  if (back.getUTCFullYear() !== Number(y) || back.getUTCMonth() !== Number(mo) - 1 || back.getUTCDate() !== Number(d) || back.getUTCHours() !== Number(h) || back.getUTCMinutes() !== Number(mi) || back.getUTCSeconds() !== Number(s)) return null;
  const micros = fraction.slice(0, 6);
  const timeUs = ms * 1000 + Number(micros.padEnd(6, '0'));
  return { ts: `${y}-${mo}-${d}T${h}:${mi}:${s}${micros ? `.${micros}` : ''}Z`, timeUs };
}

/**
 * One trade as Coinbase describes it (a `match` message or a trades row), checked field by field:
 * the product must be one this stream subscribed to, the trade id a non-negative integer (a JSON
 * number, or the same digits as a JSON string), the price
 * a positive decimal string, the size a non-negative decimal string, the time a real UTC instant not
 * ahead of the clock. Prices and sizes are kept exactly as sent.
 */
export function checkTrade(
  fields: { productId: unknown; id: unknown; price: unknown; size: unknown; time: unknown },
  sample: string,
  ctx: CheckContext,
): TradeCheck<CoinbaseTrade> {
  const symbol = subscribedSymbol(fields.productId, 'a product_id', ctx, sample, fromCoinbaseProduct);
  if (typeof symbol !== 'string') return symbol;
  const checked = idAndPrice(fields.id, fields.price, sample, symbol);
  if (!checked.ok) return checked;
  const { id, price } = checked;
  const { size, time } = fields;
  if (typeof size !== 'string' || !UNSIGNED_DECIMAL.test(size)) {
    return reject('invalid_size', `size ${JSON.stringify(size)} is not a non-negative decimal string`, sample, symbol);
  }
  const parsed = typeof time === 'string' ? parseCoinbaseTime(time) : null;
  if (!parsed || parsed.timeUs < EARLIEST_MS * 1000 || parsed.timeUs >= LATEST_MS * 1000) {
    return reject('invalid_timestamp', `trade time ${JSON.stringify(time)} is not a UTC ISO-8601 instant`, sample, symbol);
  }
  if (parsed.timeUs / 1000 > ctx.now + ctx.maxFutureMs) {
    return reject('future_timestamp', `trade time ${parsed.ts} is ahead of the clock by more than ${ctx.maxFutureMs} ms`, sample, symbol);
  }
  return {
    ok: true,
    trade: { symbol, id, timeUs: parsed.timeUs, observation: { symbol, ts: parsed.ts, price, size, tradeId: String(id) } },
  };
}

const optionalInt = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);

/**
 * Classifies one ws-feed message. Never throws: whatever arrives is a trade, a heartbeat, a
 * subscription confirmation, an error notice, an ignored type or a rejection.
 */
export function parseMessage(text: string, byteLength: number, ctx: CheckContext): MessageOutcome {
  const frame = parseObjectFrame(text, byteLength, MAX_FRAME_BYTES);
  if (!frame.ok) return { kind: 'rejected', rejection: frame.rejection };
  const parsed = frame.value;
  const named = () => (typeof parsed.product_id === 'string' ? (ctx.subscribed.lookup(parsed.product_id) ?? fromCoinbaseProduct(parsed.product_id)) : null);
  switch (parsed.type) {
    case 'match':
    case 'last_match': {
      const checked = checkTrade({ productId: parsed.product_id, id: parsed.trade_id, price: parsed.price, size: parsed.size, time: parsed.time }, text, ctx);
      if (!checked.ok) return { kind: 'rejected', rejection: checked.rejection };
      return { kind: 'match', trade: checked.trade, last: parsed.type === 'last_match', sequence: optionalInt(parsed.sequence) };
    }
    case 'heartbeat': {
      const symbol = typeof parsed.product_id === 'string' ? ctx.subscribed.lookup(parsed.product_id) : undefined;
      if (!symbol) return { kind: 'ignored', type: 'heartbeat' }; // carries no data: nothing to refuse
      const lastTradeId = jsonIdInteger(parsed.last_trade_id);
      if (!Number.isSafeInteger(lastTradeId) || lastTradeId < 0) {
        return { kind: 'rejected', rejection: reject('malformed', `heartbeat last_trade_id ${JSON.stringify(parsed.last_trade_id)} is not a non-negative integer`, text, symbol).rejection };
      }
      return { kind: 'heartbeat', symbol, lastTradeId, sequence: optionalInt(parsed.sequence) };
    }
    case 'subscriptions': {
      const channels = Array.isArray(parsed.channels) ? parsed.channels : [];
      const productsOf = (name: string) =>
        channels.flatMap((c: unknown) =>
          isObject(c) && c.name === name && Array.isArray(c.product_ids) ? c.product_ids.filter((p): p is string => typeof p === 'string') : typeof c === 'string' && c === name ? ['*'] : [],
        );
      return { kind: 'subscriptions', matches: productsOf('matches'), heartbeat: productsOf('heartbeat') };
    }
    case 'error':
      return {
        kind: 'error',
        message: typeof parsed.message === 'string' ? parsed.message : '',
        reason: typeof parsed.reason === 'string' ? parsed.reason : '',
        detail: text.slice(0, 300),
      };
    default:
      if (typeof parsed.type === 'string' && parsed.type.length > 0) return { kind: 'ignored', type: parsed.type.slice(0, 40) };
      return { kind: 'rejected', rejection: reject('malformed', `message without a type (${JSON.stringify(parsed.type ?? null)})`, text, named()).rejection };
  }
}

/** The product a `Failed to subscribe` error names as invalid (`"XRP-USD is not a valid product"`), if any. */
export function invalidProductOf(reason: string): string | null {
  const match = /^(\S+) is not a valid product/i.exec(reason.trim());
  return match ? match[1]!.toUpperCase() : null;
}

/** A row of `GET /products/{id}/trades` (`{"time","trade_id","price","size","side"}`). */
export function checkTradeRow(row: unknown, productId: string, ctx: CheckContext): TradeCheck<CoinbaseTrade> {
  const sample = safeSample(row);
  if (!isObject(row)) return reject('malformed', 'trade row is not an object', sample);
  return checkTrade({ productId, id: row.trade_id, price: row.price, size: row.size, time: row.time }, sample, ctx);
}

/**
 * A JSON number's source text as a plain decimal string, without going through a float:
 * `65000.01` stays `65000.01`, `1.2e-7` becomes `0.00000012`. Null for a negative value, a
 * non-number or more than 20 decimals (what the store keeps exactly).
 */
export function jsonNumberToDecimal(value: unknown): string | null {
  const text = isLosslessNumber(value) ? value.value : typeof value === 'string' ? value : null;
  if (text === null) return null;
  const m = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return null;
  const [, whole = '0', fraction = '', exponentText] = m;
  if (exponentText === undefined) {
    const plain = `${whole.replace(/^0+(?=\d)/, '')}${fraction ? `.${fraction}` : ''}`;
    return UNSIGNED_DECIMAL.test(plain) ? plain : null;
  }
  const exponent = Number(exponentText);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 40) return null;
  const digits = `${whole}${fraction}`;
  const point = whole.length + exponent; // position of the decimal point within `digits`
  let intPart: string;
  let fracPart: string;
  if (point <= 0) {
    intPart = '0';
    fracPart = `${'0'.repeat(-point)}${digits}`;
  } else if (point >= digits.length) {
    intPart = `${digits}${'0'.repeat(point - digits.length)}`;
    fracPart = '';
  } else {
    intPart = digits.slice(0, point);
    fracPart = digits.slice(point);
  }
  intPart = intPart.replace(/^0+(?=\d)/, '');
  fracPart = fracPart.replace(/0+$/, '');
  const plain = `${intPart}${fracPart ? `.${fracPart}` : ''}`;
  return UNSIGNED_DECIMAL.test(plain) ? plain : null;
}

/** A refused row names the minute it stood for (null when its time is unreadable): gap-fill keeps it open. */
type BarCheck = { ok: true; bar: SourceBar; openMs: number } | { ok: false; detail: string; minute: number | null };

const isPositive = (decimal: string) => /[1-9]/.test(decimal);

/** One exact decimal comparison for every provider: the bar schema's. */
export { compareDecimals };

/**
 * A candle row `[time, low, high, open, close, volume]` (numbers as JSON numbers, parsed losslessly)
 * as a one-minute SourceBar: time in whole seconds at a minute start, positive prices with high and
 * low bounding open and close, non-negative volume. Coinbase does not say how many trades a candle
 * holds (tradeCount null).
 */
export function checkCandleRow(row: unknown, symbol: string): BarCheck {
  if (!Array.isArray(row) || row.length < 6) return { ok: false, detail: `candle row is not [time, low, high, open, close, volume]: ${safeSample(row)}`, minute: null };
  const seconds = jsonInteger(row[0]);
  if (!Number.isSafeInteger(seconds) || seconds % 60 !== 0 || seconds * 1000 < EARLIEST_MS || seconds * 1000 >= LATEST_MS) {
    return { ok: false, detail: `candle time ${safeSample(row[0])} is not a minute start in seconds`, minute: null };
  }
  const minute = seconds * 1000;
  const [low, high, open, close, volume] = row.slice(1, 6).map(jsonNumberToDecimal);
  if (!low || !high || !open || !close || !volume) return { ok: false, detail: `candle values are not non-negative decimals: ${safeSample(row)}`, minute };
  if (!isPositive(low)) return { ok: false, detail: `candle low ${low} is not positive`, minute };
  if (compareDecimals(high, open) < 0 || compareDecimals(high, close) < 0 || compareDecimals(low, open) > 0 || compareDecimals(low, close) > 0) {
    return { ok: false, detail: `candle high/low do not bound open and close: ${safeSample(row)}`, minute };
  }
  return {
    ok: true,
    openMs: minute,
    bar: { symbol, openTime: new Date(minute).toISOString().replace('.000Z', 'Z'), open, high, low, close, volume, tradeCount: null },
  };
}

function safeSample(value: unknown): string {
  try {
    return (JSON.stringify(value, (_key, v: unknown) => (isLosslessNumber(v) ? v.value : v)) ?? String(value)).slice(0, SAMPLE_CHARS);
  } catch {
    return String(value).slice(0, SAMPLE_CHARS);
  }
}

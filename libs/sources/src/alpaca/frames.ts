import { isLosslessNumber, parse, stringify } from 'lossless-json';
import { compareDecimals, isValidPrice, toBarTime, UNSIGNED_DECIMAL } from '@tickvault/schema';
import type { SourceBar, SourceRejection } from '../source.js';
import { jsonIdDigits } from '../kit/json-id.js';
import { EARLIEST_MS, isObject, LATEST_MS, refusal, SAMPLE_CHARS, type CheckedTrade } from '../kit/checks.js';

/**
 * Frames above this are refused unread (`oversized`). Alpaca batches data messages into one array
 * per frame; a busy SIP second across many symbols stays far below this.
 */
export const MAX_FRAME_BYTES = 2 * 1024 * 1024;
const INTEGER = /^(0|[1-9]\d{0,19})$/;
const EXCHANGE_CODE = /^[A-Z]{1,4}$/;
const RFC3339 = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Message types the stream may send that tickvault does not store: quotes, trade corrections and
 * cancel errors (Alpaca subscribes to those two with trades), statuses, LULD bands, daily bars,
 * imbalances. Counted, neither stored nor refused.
 */
const IGNORED_TYPES = new Set(['q', 'c', 'x', 's', 'l', 'd', 'i', 'n']);

export interface AlpacaTrade extends CheckedTrade {
  /** Trade time, ms since the epoch (sub-millisecond digits dropped; `observation.ts` keeps microseconds). */
  timeMs: number;
}

export interface AlpacaBar {
  symbol: string;
  openMs: number;
  /** True for an `updatedBars` correction (`T:"u"`), which replaces the bar of the same minute. */
  updated: boolean;
  bar: SourceBar;
}

export type ControlMessage =
  | { kind: 'success'; msg: string }
  | { kind: 'subscription'; trades: string[]; bars: string[]; updatedBars: string[] }
  | { kind: 'error'; code: number | null; msg: string };

export interface FrameResult {
  trades: AlpacaTrade[];
  bars: AlpacaBar[];
  controls: ControlMessage[];
  rejections: SourceRejection[];
  /** Messages of types tickvault does not store (quotes, corrections, statuses, ...). */
  ignored: number;
}

export interface CheckContext {
  /** The tickvault symbol for an Alpaca symbol this stream asked for, else undefined. */
  lookup(alpacaSymbol: string): string | undefined;
  now: number;
  maxFutureMs: number;
  /** Bar length: a minute, shorter only against the fake in tests. Bar times must be multiples of it. */
  barIntervalMs: number;
  /** Frames longer than this are refused unread (default MAX_FRAME_BYTES). */
  maxFrameBytes: number;
}

type Check<T> = { ok: true; value: T } | { ok: false; rejection: SourceRejection };

const rejection = refusal;

/** A parsed message back to JSON text (numbers as they were sent), for rejection samples. */
export function sampleOf(value: unknown): string {
  try {
    return stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The decimal text of a JSON number, exactly as the provider wrote it. An exponent (Go writes
 * `1e-07` for tiny floats) is expanded by moving the decimal point in the text, never through a
 * float. Null for anything that is not a JSON number, or whose exponent is absurd.
 */
export function decimalText(value: unknown): string | null {
  if (!isLosslessNumber(value)) return null;
  const text = value.value;
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return null;
  const [, sign = '', whole = '', fraction = '', exponent] = match;
  if (exponent === undefined) return text;
  const shift = Number(exponent);
  if (!Number.isSafeInteger(shift) || Math.abs(shift) > 40) return null;
  const digits = whole + fraction;
  let point = whole.length + shift;
  let padded = digits;
  if (point <= 0) {
    padded = '0'.repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    padded = digits + '0'.repeat(point - digits.length);
  }
  const integer = padded.slice(0, point).replace(/^0+(?=\d)/, '');
  const rest = padded.slice(point);
  return `${sign}${integer}${rest ? `.${rest}` : ''}`;
}

/**
 * Alpaca's RFC 3339 timestamp (nanoseconds, `2021-02-22T15:51:44.208123456Z`) as tickvault's UTC
 * ISO form with at most microseconds (timestamptz precision: digits beyond are cut, not rounded,
 * so a trade never moves into the next microsecond), plus milliseconds since the epoch.
 */
export function toIsoMicros(text: unknown): { iso: string; ms: number } | null {
  if (typeof text !== 'string') return null;
  const match = RFC3339.exec(text);
  if (!match) return null;
  const [, date = '', time = '', fraction = '', zone = 'Z'] = match;
  const seconds = Date.parse(`${date}T${time}${zone}`);
  if (Number.isNaN(seconds)) return null;
  const whole = new Date(seconds).toISOString().slice(0, 19);
  // Date.parse accepts 2021-02-30; a real instant reads back as written.
  if (zone === 'Z' && whole !== `${date}T${time}`) return null;
  const micros = fraction.slice(0, 6);
  return { iso: `${whole}${micros ? `.${micros}` : ''}Z`, ms: seconds + Number(fraction.slice(0, 3).padEnd(3, '0')) };
}

/** Exact decimal comparison lives with the bar schema; re-exported for this module's callers. */
export { compareDecimals };

function checkTime(value: unknown, sample: string, symbol: string, ctx: CheckContext, what: string): Check<{ iso: string; ms: number }> {
  const time = toIsoMicros(value);
  if (!time || time.ms < EARLIEST_MS || time.ms >= LATEST_MS) {
    return rejection('invalid_timestamp', `${what} time ${JSON.stringify(typeof value === 'string' ? value : sampleOf(value))} is not an RFC 3339 UTC timestamp`, sample, symbol);
  }
  if (time.ms > ctx.now + ctx.maxFutureMs) {
    return rejection('future_timestamp', `${what} time ${time.iso} is ahead of the clock by more than ${ctx.maxFutureMs} ms`, sample, symbol);
  }
  return { ok: true, value: time };
}

function resolveSymbol(message: Record<string, unknown>, sample: string, ctx: CheckContext, known: string | undefined): Check<string> {
  if (known !== undefined) return { ok: true, value: known };
  if (typeof message.S !== 'string' || message.S.length === 0) return rejection('malformed', 'message without a symbol (S)', sample);
  const symbol = ctx.lookup(message.S);
  if (!symbol) return rejection('unknown_symbol', `message for ${message.S}, which this stream did not subscribe to`, sample, message.S.slice(0, 41));
  return { ok: true, value: symbol };
}

/**
 * One trade (stream `{"T":"t","S","i","x","p","s","t","c","z"}`, or a REST row without `T`/`S`
 * when `symbol` is given), checked field by field. The trade id is `<exchange>-<id>`: Alpaca's ids
 * are per exchange (and restart daily; the stored key also holds the timestamp).
 */
export function checkTrade(message: unknown, ctx: CheckContext, symbol?: string): Check<AlpacaTrade> {
  const sample = sampleOf(message);
  if (!isObject(message)) return rejection('malformed', 'trade is not an object', sample, symbol ?? null);
  const named = resolveSymbol(message, sample, ctx, symbol);
  if (!named.ok) return named;
  const s = named.value;
  const id = jsonIdDigits(message.i);
  if (id === null) {
    return rejection('invalid_trade_id', `trade id ${sampleOf(message.i ?? null)} is not a non-negative integer`, sample, s);
  }
  if (typeof message.x !== 'string' || !EXCHANGE_CODE.test(message.x)) {
    return rejection('invalid_trade_id', `exchange code ${sampleOf(message.x ?? null)} is not one to four capital letters (ids are per exchange)`, sample, s);
  }
  const price = decimalText(message.p);
  if (price === null || !isValidPrice('stock', price)) {
    return rejection('invalid_price', `price ${sampleOf(message.p ?? null)} is not a positive decimal number`, sample, s);
  }
  const size = decimalText(message.s);
  if (size === null || !UNSIGNED_DECIMAL.test(size)) {
    return rejection('invalid_size', `size ${sampleOf(message.s ?? null)} is not a non-negative decimal number`, sample, s);
  }
  const time = checkTime(message.t, sample, s, ctx, 'trade');
  if (!time.ok) return time;
  return {
    ok: true,
    value: { symbol: s, timeMs: time.value.ms, observation: { symbol: s, ts: time.value.iso, price, size, tradeId: `${message.x}-${id}` } },
  };
}

/**
 * One minute bar (stream `{"T":"b"|"u","S","o","h","l","c","v","t","n","vw"}`, or a REST row):
 * prices positive, high and low bounding open and close, volume non-negative, the time the start
 * of a bar interval. `n` (trades in the bar) may be absent: tradeCount is then null.
 */
export function checkBar(message: unknown, ctx: CheckContext, symbol?: string): Check<AlpacaBar> {
  const sample = sampleOf(message);
  if (!isObject(message)) return rejection('malformed', 'bar is not an object', sample, symbol ?? null);
  const named = resolveSymbol(message, sample, ctx, symbol);
  if (!named.ok) return named;
  const s = named.value;
  const prices: Record<'o' | 'h' | 'l' | 'c', string> = { o: '', h: '', l: '', c: '' };
  for (const key of ['o', 'h', 'l', 'c'] as const) {
    const text = decimalText(message[key]);
    if (text === null || !isValidPrice('stock', text)) {
      return rejection('invalid_bar', `bar ${key} ${sampleOf(message[key] ?? null)} is not a positive decimal number`, sample, s);
    }
    prices[key] = text;
  }
  const volume = decimalText(message.v);
  if (volume === null || !UNSIGNED_DECIMAL.test(volume)) {
    return rejection('invalid_bar', `bar volume ${sampleOf(message.v ?? null)} is not a non-negative decimal number`, sample, s);
  }
  const { o, h, l, c } = prices;
  if (compareDecimals(h, l) < 0 || compareDecimals(h, o) < 0 || compareDecimals(h, c) < 0 || compareDecimals(l, o) > 0 || compareDecimals(l, c) > 0) {
    return rejection('invalid_bar', `bar high ${h} and low ${l} do not bound open ${o} and close ${c}`, sample, s);
  }
  let tradeCount: number | null = null;
  if (message.n !== undefined && message.n !== null) {
    const n = isLosslessNumber(message.n) ? message.n.value : '';
    if (!INTEGER.test(n) || !Number.isSafeInteger(Number(n))) {
      return rejection('invalid_bar', `bar trade count ${sampleOf(message.n)} is not a non-negative integer`, sample, s);
    }
    tradeCount = Number(n);
  }
  const time = checkTime(message.t, sample, s, ctx, 'bar');
  if (!time.ok) return time;
  if (time.value.ms % ctx.barIntervalMs !== 0) {
    return rejection('invalid_timestamp', `bar time ${time.value.iso} is not the start of a ${ctx.barIntervalMs / 1000} s bar`, sample, s);
  }
  return {
    ok: true,
    value: {
      symbol: s,
      openMs: time.value.ms,
      updated: message.T === 'u',
      bar: { symbol: s, openTime: toBarTime(time.value.ms), open: o, high: h, low: l, close: c, volume, tradeCount },
    },
  };
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/**
 * One WebSocket frame: a JSON array of messages (`[{"T":"t",...},{"T":"b",...}]`), numbers parsed
 * with their source text kept. Never throws: each message becomes a trade, a bar, a control message,
 * an ignored type or a rejection, and a bad message does not spoil the others of its frame.
 */
export function parseFrame(text: string, byteLength: number, ctx: CheckContext): FrameResult {
  const result: FrameResult = { trades: [], bars: [], controls: [], rejections: [], ignored: 0 };
  if (byteLength > ctx.maxFrameBytes) {
    result.rejections.push({ symbol: null, reason: 'oversized', detail: `frame of ${byteLength} bytes exceeds ${ctx.maxFrameBytes}`, sample: text.slice(0, SAMPLE_CHARS) });
    return result;
  }
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    result.rejections.push(rejection('malformed', `frame is not JSON: ${(error as Error).message}`, text).rejection);
    return result;
  }
  if (!Array.isArray(parsed)) {
    result.rejections.push(rejection('malformed', `frame is ${isObject(parsed) ? 'an object' : typeof parsed}, not an array of messages`, text).rejection);
    return result;
  }
  for (const message of parsed) {
    if (!isObject(message) || typeof message.T !== 'string') {
      result.rejections.push(rejection('malformed', 'message is not an object with a type (T)', sampleOf(message)).rejection);
      continue;
    }
    switch (message.T) {
      case 't': {
        const checked = checkTrade(message, ctx);
        if (checked.ok) result.trades.push(checked.value);
        else result.rejections.push(checked.rejection);
        break;
      }
      case 'b':
      case 'u': {
        const checked = checkBar(message, ctx);
        if (checked.ok) result.bars.push(checked.value);
        else result.rejections.push(checked.rejection);
        break;
      }
      case 'success':
        result.controls.push({ kind: 'success', msg: typeof message.msg === 'string' ? message.msg : '' });
        break;
      case 'subscription':
        result.controls.push({ kind: 'subscription', trades: strings(message.trades), bars: strings(message.bars), updatedBars: strings(message.updatedBars) });
        break;
      case 'error': {
        const code = isLosslessNumber(message.code) && INTEGER.test(message.code.value) ? Number(message.code.value) : null;
        result.controls.push({ kind: 'error', code, msg: typeof message.msg === 'string' ? message.msg.slice(0, 200) : '' });
        break;
      }
      default:
        if (IGNORED_TYPES.has(message.T)) result.ignored++;
        else {
          const symbol = typeof message.S === 'string' ? (ctx.lookup(message.S) ?? null) : null;
          result.rejections.push(rejection('malformed', `unexpected message type ${JSON.stringify(message.T.slice(0, 20))}`, sampleOf(message), symbol).rejection);
        }
    }
  }
  return result;
}

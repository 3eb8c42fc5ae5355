import { isValidPrice, type RejectReason } from '@tickvault/schema';
import { jsonIdInteger } from './json-id.js';
import type { Observation, SourceRejection } from '../source.js';

/** How much of a refused input a rejection keeps: enough to see what was wrong, never a whole frame. */
export const SAMPLE_CHARS = 500;

/** 2000-01-01 .. 2100-01-01 (ms): a time outside it is a unit or parsing error, not a trade or a bar. */
export const EARLIEST_MS = 946_684_800_000;
export const LATEST_MS = 4_102_444_800_000;

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A failed check: the reason, what was wrong, and the start of the input. */
export function refusal(reason: RejectReason, detail: string, sample: string, symbol: string | null = null): { ok: false; rejection: SourceRejection } {
  return { ok: false, rejection: { symbol, reason, detail, sample: sample.slice(0, SAMPLE_CHARS) } };
}

/**
 * A JSON object frame (Binance, Coinbase), refused unread past `maxBytes` (`oversized`), as
 * `malformed` when it is not JSON or not an object.
 */
export function parseObjectFrame(text: string, byteLength: number, maxBytes: number): { ok: true; value: Record<string, unknown> } | { ok: false; rejection: SourceRejection } {
  if (byteLength > maxBytes) return refusal('oversized', `frame of ${byteLength} bytes exceeds ${maxBytes}`, text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return refusal('malformed', `frame is not JSON: ${(error as Error).message}`, text);
  }
  if (!isObject(parsed)) return refusal('malformed', `frame is ${Array.isArray(parsed) ? 'an array' : typeof parsed}, not an object`, text);
  return { ok: true, value: parsed };
}

/** A trade as every provider's frame check hands it on: the normalized symbol and what is stored. */
export interface CheckedTrade {
  /** Normalized (`BTC/USDT`). */
  symbol: string;
  observation: Observation;
}

/** A trade frame or row, checked: the trade, or why it is refused. */
export type TradeCheck<T extends CheckedTrade> = { ok: true; trade: T } | { ok: false; rejection: SourceRejection };

/** What an id-based stream's frame checks read: the symbols it subscribed to, and the clock for the future-stamp check. */
export interface SubscribedCheckContext<S> {
  subscribed: S;
  now: number;
  maxFutureMs: number;
}

/**
 * The tickvault symbol of the name a trade gives (`field` is the wire's name for it), when this
 * stream subscribed to it; else the trade's refusal, naming the symbol where `nameOf` can read one.
 */
export function subscribedSymbol(
  name: unknown,
  field: string,
  ctx: SubscribedCheckContext<{ lookup(name: string): string | undefined }>,
  sample: string,
  nameOf: (name: string) => string | null,
): string | { ok: false; rejection: SourceRejection } {
  if (typeof name !== 'string') return refusal('malformed', `trade without ${field}`, sample);
  const symbol = ctx.subscribed.lookup(name);
  if (!symbol) return refusal('unknown_symbol', `trade for ${name}, which this stream did not subscribe to`, sample, nameOf(name));
  return symbol;
}

/** The id and price of an id-based crypto trade: a non-negative integer id (a JSON number or its digits as a string) and a positive decimal string. */
export function idAndPrice(rawId: unknown, price: unknown, sample: string, symbol: string): { ok: true; id: number; price: string } | { ok: false; rejection: SourceRejection } {
  const id = jsonIdInteger(rawId);
  if (Number.isNaN(id)) return refusal('invalid_trade_id', `trade id ${JSON.stringify(rawId)} is not a non-negative integer`, sample, symbol);
  if (typeof price !== 'string' || !isValidPrice('crypto', price)) {
    return refusal('invalid_price', `price ${JSON.stringify(price)} is not a positive decimal string`, sample, symbol);
  }
  return { ok: true, id, price };
}

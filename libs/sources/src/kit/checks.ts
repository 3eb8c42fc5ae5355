import type { RejectReason } from '@tickvault/schema';
import type { SourceRejection } from '../source.js';

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

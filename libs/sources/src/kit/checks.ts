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

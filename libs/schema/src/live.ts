import { z } from 'zod';
import { TimeframeSchema } from './market.js';

/**
 * After each commit the writer publishes the candles it changed on this Redis pub/sub channel
 * (prefixed with the queue prefix). Publishing is fire-and-forget: no reader, a slow reader or a
 * Redis hiccup never delays or fails a write. Readers get at-most-once updates and re-read the
 * database for anything they missed.
 */
export const LIVE_CHANNEL = 'live-candles';

export function liveChannel(prefix: string): string {
  return `${prefix}:${LIVE_CHANNEL}`;
}

export const LiveCandleSchema = z.object({
  source: z.string(),
  symbol: z.string(),
  timeframe: TimeframeSchema,
  /** Bucket start, UTC ISO-8601. */
  openTime: z.string(),
  /** Decimals as text, exactly as stored. */
  open: z.string(),
  high: z.string(),
  low: z.string(),
  close: z.string(),
  volume: z.string(),
  // Null for bars from providers that do not count trades (Yahoo).
  tradeCount: z.number().int().nullable(),
});
export type LiveCandle = z.infer<typeof LiveCandleSchema>;

export const LiveUpdateSchema = z.object({
  /** When the batch committed. */
  at: z.string(),
  candles: z.array(LiveCandleSchema),
});
export type LiveUpdate = z.infer<typeof LiveUpdateSchema>;

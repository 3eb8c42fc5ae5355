import { tradingWindows, type AssetClass } from '@tickvault/schema';
import type { ExpectedWindow } from '@tickvault/db';

const MINUTE_MS = 60_000;
// The newest minutes are still being written (micro-batches, queue, flush): not a gap yet.
export const SETTLE_MS = 5 * MINUTE_MS;
// How far back sessions are looked for when stocks' 1m retention is counted in session minutes.
const STOCK_LOOKBACK_MS = 21 * 86_400_000;

/**
 * Where 1m candles are expected and still kept: from the retention horizon (the last `keep1m` minutes a
 * series trades, and no older than tick retention, which refuses older bars) to a few minutes ago.
 * Crypto trades every minute; stocks only in NYSE sessions, so their horizon is counted in session minutes.
 */
export function gapFillWindows(now: Date, keep1m: number, tickRetentionMs: number, classes: readonly AssetClass[]): ExpectedWindow[] {
  const end = new Date(Math.floor((now.getTime() - SETTLE_MS) / MINUTE_MS) * MINUTE_MS);
  const oldest = now.getTime() - tickRetentionMs + MINUTE_MS;
  const windows: ExpectedWindow[] = [];
  if (classes.includes('crypto')) {
    const start = new Date(Math.max(end.getTime() - keep1m * MINUTE_MS, oldest));
    windows.push(...tradingWindows('crypto', start, end).map((w) => ({ assetClass: 'crypto' as const, start: w.open, end: w.close })));
  }
  if (classes.includes('stock')) {
    const sessions = tradingWindows('stock', new Date(Math.max(end.getTime() - STOCK_LOOKBACK_MS, oldest)), end);
    let budget = keep1m * MINUTE_MS;
    for (const session of sessions.reverse()) {
      if (budget <= 0) break;
      const length = session.close.getTime() - session.open.getTime();
      const start = length <= budget ? session.open : new Date(session.close.getTime() - budget);
      budget -= length;
      windows.push({ assetClass: 'stock', start, end: session.close });
    }
  }
  return windows;
}

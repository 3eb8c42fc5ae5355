import { z } from 'zod';

export const ASSET_CLASSES = ['crypto', 'stock', 'macro'] as const;
export const AssetClassSchema = z.enum(ASSET_CLASSES);
export type AssetClass = z.infer<typeof AssetClassSchema>;

/** `1w` and `1M` are only built for macro series, whose observations are daily at best. */
export const TIMEFRAMES = ['1m', '5m', '15m', '1h', '4h', '1d', '1w', '1M'] as const;
export const TimeframeSchema = z.enum(TIMEFRAMES);
export type Timeframe = z.infer<typeof TimeframeSchema>;

export const TIMEFRAMES_BY_ASSET_CLASS: Readonly<Record<AssetClass, readonly Timeframe[]>> = Object.freeze({
  crypto: ['1m', '5m', '15m', '1h', '4h', '1d'],
  stock: ['1m', '5m', '15m', '1h', '4h', '1d'],
  macro: ['1d', '1w', '1M'],
});

export const SOURCE_ID_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * One normalized symbol form per asset class, whatever the provider calls it:
 * crypto `BASE/QUOTE` (BTC/USDT), stocks by ticker (AAPL, BRK.B), macro by series id (DGS10).
 */
export const SYMBOL_PATTERNS: Readonly<Record<AssetClass, RegExp>> = Object.freeze({
  crypto: /^[A-Z0-9]{1,15}\/[A-Z0-9]{1,15}$/,
  stock: /^[A-Z][A-Z0-9.-]{0,9}$/,
  macro: /^[A-Z0-9_]{1,40}$/,
});

export function isValidSymbol(assetClass: AssetClass, symbol: string): boolean {
  return SYMBOL_PATTERNS[assetClass].test(symbol);
}

/** A series is what candles and health are kept for: one symbol from one source. */
export interface SeriesKey {
  source: string;
  symbol: string;
  assetClass: AssetClass;
}

export function seriesLabel(series: Pick<SeriesKey, 'source' | 'symbol'>): string {
  return `${series.source}:${series.symbol}`;
}

import { TIMEFRAMES_BY_ASSET_CLASS, type AssetClass, type Timeframe } from '@tickvault/schema';

/**
 * Candles from trades known to be new, computed in the writer instead of in SQL: the database then
 * receives one pre-aggregated row per candle instead of sorting every tick twice per timeframe.
 * Exact like the SQL it replaces: decimals compare and add as text and bigints (never floats), and
 * trades order by time, then trade id by length, then bytewise (trade-order.ts).
 */
export interface FoldTrade {
  source: string;
  symbol: string;
  assetClass: AssetClass;
  /** As sent: UTC ISO-8601 with up to microseconds. */
  ts: string;
  /** Microseconds since the epoch (exact: below 2^53 until the year 2255). */
  us: number;
  price: string;
  size: string;
  tradeId: string | null;
}

export interface FoldedCandle {
  source: string;
  symbol: string;
  timeframe: Timeframe;
  openTime: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  tradeCount: number;
  firstTs: string;
  firstTradeId: string | null;
  lastTs: string;
  lastTradeId: string | null;
}

interface Acc {
  source: string;
  symbol: string;
  timeframe: Timeframe;
  openUs: number;
  first: FoldTrade;
  last: FoldTrade;
  high: string;
  low: string;
  /** Volume scaled by 10^SCALE. */
  volume: bigint;
  /** Largest number of decimals among the sizes: PostgreSQL's sum keeps it, so the text matches. */
  scale: number;
  count: number;
}

// Validated decimals have at most 20 fraction digits (tick.ts).
const SCALE = 20;
const MINUTE_US = 60_000_000;
const FIXED_BIN_US: Partial<Record<Timeframe, number>> = {
  '1m': MINUTE_US,
  '5m': 5 * MINUTE_US,
  '15m': 15 * MINUTE_US,
  '1h': 60 * MINUTE_US,
  '4h': 240 * MINUTE_US,
  '1d': 1_440 * MINUTE_US,
};

/** Microseconds since the epoch of a validated UTC ISO timestamp. */
export function isoToMicros(ts: string): number {
  const dot = ts.indexOf('.', 19);
  const ms = Date.parse(dot === -1 ? ts : `${ts.slice(0, 19)}Z`);
  if (dot === -1) return ms * 1000;
  const fraction = ts.slice(dot + 1, ts.length - 1).padEnd(6, '0');
  return ms * 1000 + Number(fraction);
}

/**
 * The bucket start of a timeframe, as tv_bucket computes it: fixed bins from 2000-01-01 UTC (which
 * the epoch-aligned bins below equal, 2000-01-01 being a whole number of days after the epoch),
 * Monday weeks, calendar months.
 */
export function bucketStartUs(timeframe: Timeframe, us: number): number {
  const bin = FIXED_BIN_US[timeframe];
  if (bin !== undefined) return Math.floor(us / bin) * bin;
  const day = Math.floor(us / (1_440 * MINUTE_US));
  if (timeframe === '1w') return (day - ((day + 3) % 7 + 7) % 7) * 1_440 * MINUTE_US;
  const date = new Date(Math.floor(us / 1000));
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) * 1000;
}

/** Compares two non-negative decimal strings exactly. */
export function compareDecimal(a: string, b: string): number {
  const [ai, af = ''] = a.split('.');
  const [bi, bf = ''] = b.split('.');
  if (ai!.length !== bi!.length) return ai!.length < bi!.length ? -1 : 1;
  if (ai !== bi) return ai! < bi! ? -1 : 1;
  const width = Math.max(af.length, bf.length);
  const ap = af.padEnd(width, '0');
  const bp = bf.padEnd(width, '0');
  return ap === bp ? 0 : ap < bp ? -1 : 1;
}

function scaled(decimal: string): { value: bigint; scale: number } {
  const dot = decimal.indexOf('.');
  if (dot === -1) return { value: BigInt(decimal) * 10n ** BigInt(SCALE), scale: 0 };
  const fraction = decimal.slice(dot + 1);
  return { value: BigInt(decimal.slice(0, dot) + fraction.padEnd(SCALE, '0')), scale: fraction.length };
}

function formatScaled(value: bigint, scale: number): string {
  const digits = value.toString().padStart(SCALE + 1, '0');
  const whole = digits.slice(0, digits.length - SCALE).replace(/^0+(?=\d)/, '');
  return scale === 0 ? whole : `${whole}.${digits.slice(digits.length - SCALE, digits.length - SCALE + scale)}`;
}

/** Trade order: time, then trade id by length, then bytewise; a trade without an id first. */
export function tradeBefore(a: FoldTrade, b: FoldTrade): boolean {
  if (a.us !== b.us) return a.us < b.us;
  const ai = a.tradeId ?? '';
  const bi = b.tradeId ?? '';
  if (ai.length !== bi.length) return ai.length < bi.length;
  return ai < bi;
}

function microsToIso(us: number): string {
  return new Date(us / 1000).toISOString();
}

/**
 * Folds trades into one candle per series, timeframe and bucket, for every timeframe of their asset
 * class. Trades go into the smallest timeframe first; larger buckets are unions of those.
 */
export function foldTrades(trades: readonly FoldTrade[]): FoldedCandle[] {
  const base = new Map<string, Acc>();
  for (const t of trades) {
    const tf = TIMEFRAMES_BY_ASSET_CLASS[t.assetClass][0]!;
    const openUs = bucketStartUs(tf, t.us);
    const key = `${t.source}\u0000${t.symbol}\u0000${openUs}`;
    const size = scaled(t.size);
    const acc = base.get(key);
    if (!acc) {
      base.set(key, {
        source: t.source, symbol: t.symbol, timeframe: tf, openUs, first: t, last: t, high: t.price, low: t.price,
        volume: size.value, scale: size.scale, count: 1,
      });
      continue;
    }
    if (tradeBefore(t, acc.first)) acc.first = t;
    if (tradeBefore(acc.last, t)) acc.last = t;
    if (compareDecimal(t.price, acc.high) > 0) acc.high = t.price;
    if (compareDecimal(t.price, acc.low) < 0) acc.low = t.price;
    acc.volume += size.value;
    if (size.scale > acc.scale) acc.scale = size.scale;
    acc.count++;
  }
  const all = new Map<string, Acc>();
  for (const b of base.values()) {
    const assetClass = b.first.assetClass;
    for (const tf of TIMEFRAMES_BY_ASSET_CLASS[assetClass]) {
      if (tf === b.timeframe) {
        all.set(`${b.source}\u0000${b.symbol}\u0000${tf}\u0000${b.openUs}`, b);
        continue;
      }
      const openUs = bucketStartUs(tf, b.openUs);
      const key = `${b.source}\u0000${b.symbol}\u0000${tf}\u0000${openUs}`;
      const acc = all.get(key);
      if (!acc) {
        all.set(key, { ...b, timeframe: tf, openUs });
        continue;
      }
      if (tradeBefore(b.first, acc.first)) acc.first = b.first;
      if (tradeBefore(acc.last, b.last)) acc.last = b.last;
      if (compareDecimal(b.high, acc.high) > 0) acc.high = b.high;
      if (compareDecimal(b.low, acc.low) < 0) acc.low = b.low;
      acc.volume += b.volume;
      if (b.scale > acc.scale) acc.scale = b.scale;
      acc.count += b.count;
    }
  }
  return [...all.values()].map((a) => ({
    source: a.source,
    symbol: a.symbol,
    timeframe: a.timeframe,
    openTime: microsToIso(a.openUs),
    open: a.first.price,
    high: a.high,
    low: a.low,
    close: a.last.price,
    volume: formatScaled(a.volume, a.scale),
    tradeCount: a.count,
    firstTs: a.first.ts,
    firstTradeId: a.first.tradeId,
    lastTs: a.last.ts,
    lastTradeId: a.last.tradeId,
  }));
}

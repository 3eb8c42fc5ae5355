import { isoMicros, TIMEFRAMES_BY_ASSET_CLASS, type AssetClass, type Timeframe } from '@tickvault/schema';

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
  /** The trade's COPY line, once its series id is known (tick-store.ts). */
  line?: string;
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
  volume: ExactSum;
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
  const us = isoMicros(ts);
  if (us === undefined) throw new Error(`not a tick timestamp: ${ts}`);
  return us;
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

/** Compares two non-negative decimal strings exactly (no leading zeros but a lone one, as validated). */
export function compareDecimal(a: string, b: string): number {
  if (a === b) return 0;
  let ad = a.indexOf('.');
  let bd = b.indexOf('.');
  if (ad === -1) ad = a.length;
  if (bd === -1) bd = b.length;
  if (ad !== bd) return ad < bd ? -1 : 1;
  // Same number of integer digits: compare digit by digit, a missing fraction digit counting as 0.
  const end = Math.max(a.length, b.length);
  for (let i = 0; i < end; i++) {
    // Past its end a decimal reads as 0, and its point (where the other has one) as well.
    const ac = i < a.length && i !== ad ? a.charCodeAt(i) : 48;
    const bc = i < b.length && i !== bd ? b.charCodeAt(i) : 48;
    if (ac !== bc) return ac < bc ? -1 : 1;
  }
  return 0;
}

/**
 * An exact sum of non-negative decimals with the largest number of decimals among them (PostgreSQL's
 * sum keeps that scale, so the text matches). Adds as integers scaled by 10^scale in a double while
 * that is exact (below 2^53), in a bigint beyond.
 */
export class ExactSum {
  private small = 0;
  private big: bigint | undefined;
  private scale = 0;

  add(decimal: string): void {
    const dot = decimal.indexOf('.');
    const scale = dot === -1 ? 0 : decimal.length - dot - 1;
    const digits = dot === -1 ? decimal : decimal.slice(0, dot) + decimal.slice(dot + 1);
    if (scale > this.scale) this.rescale(scale);
    if (this.big === undefined && digits.length <= 15) {
      const value = Number(digits) * POW10[this.scale - scale]!;
      const sum = this.small + value;
      if (Number.isSafeInteger(sum) && Number.isSafeInteger(value)) {
        this.small = sum;
        return;
      }
    }
    this.big = (this.big ?? BigInt(this.small)) + BigInt(digits) * 10n ** BigInt(this.scale - scale);
    this.small = 0;
  }

  merge(other: ExactSum): void {
    if (other.scale > this.scale) this.rescale(other.scale);
    const factor = this.scale - other.scale;
    if (this.big === undefined && other.big === undefined) {
      const value = other.small * POW10[factor]!;
      const sum = this.small + value;
      if (Number.isSafeInteger(sum) && Number.isSafeInteger(value)) {
        this.small = sum;
        return;
      }
    }
    this.big = (this.big ?? BigInt(this.small)) + (other.big ?? BigInt(other.small)) * 10n ** BigInt(factor);
    this.small = 0;
  }

  copy(): ExactSum {
    const c = new ExactSum();
    c.small = this.small;
    c.big = this.big;
    c.scale = this.scale;
    return c;
  }

  toString(): string {
    const digits = (this.big ?? BigInt(this.small)).toString().padStart(this.scale + 1, '0');
    return this.scale === 0 ? digits : `${digits.slice(0, digits.length - this.scale)}.${digits.slice(digits.length - this.scale)}`;
  }

  private rescale(scale: number): void {
    const factor = scale - this.scale;
    this.scale = scale;
    if (this.big === undefined) {
      const value = this.small * POW10[factor]!;
      if (Number.isSafeInteger(value)) {
        this.small = value;
        return;
      }
    }
    this.big = (this.big ?? BigInt(this.small)) * 10n ** BigInt(factor);
    this.small = 0;
  }
}

const POW10 = Array.from({ length: SCALE + 1 }, (_, i) => 10 ** i);

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
    let acc = base.get(key);
    if (!acc) {
      acc = { source: t.source, symbol: t.symbol, timeframe: tf, openUs, first: t, last: t, high: t.price, low: t.price, volume: new ExactSum(), count: 0 };
      base.set(key, acc);
    } else {
      if (tradeBefore(t, acc.first)) acc.first = t;
      if (tradeBefore(acc.last, t)) acc.last = t;
      if (t.price !== acc.high && compareDecimal(t.price, acc.high) > 0) acc.high = t.price;
      if (t.price !== acc.low && compareDecimal(t.price, acc.low) < 0) acc.low = t.price;
    }
    acc.volume.add(t.size);
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
        all.set(key, { ...b, timeframe: tf, openUs, volume: b.volume.copy() });
        continue;
      }
      if (tradeBefore(b.first, acc.first)) acc.first = b.first;
      if (tradeBefore(acc.last, b.last)) acc.last = b.last;
      if (compareDecimal(b.high, acc.high) > 0) acc.high = b.high;
      if (compareDecimal(b.low, acc.low) < 0) acc.low = b.low;
      acc.volume.merge(b.volume);
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
    volume: a.volume.toString(),
    tradeCount: a.count,
    firstTs: a.first.ts,
    firstTradeId: a.first.tradeId,
    lastTs: a.last.ts,
    lastTradeId: a.last.tradeId,
  }));
}

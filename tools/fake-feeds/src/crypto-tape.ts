import { TradeCounts } from './market.js';
import { hashSeed, mulberry32 } from './random.js';
import type { TapeOptions } from './scaffold.js';

/** One trade as the market makes it, before a venue gives it its wire shape. */
export interface MarketTrade {
  second: number;
  /** Within the second, in the venue's unit (`offsetsPerSecond` of them per second). */
  offset: number;
  id: number;
  priceE8: bigint;
  /** Base units, 0.00001 to 2. */
  sizeE8: bigint;
  /** Price decimals at this level: cents from 100 up, 4 from 1, `smallDecimals` below. */
  decimals: number;
}

/**
 * Per crypto instrument: every trade from the origin up to the newest generated second, in id (and
 * time) order, a pure function of (seed, instrument, second). Binance and Coinbase differ only in
 * the time unit, the price ticks below 1 and the fields they add (drawn from the same `rand` after
 * price and size, so each venue's trades stay what they were).
 */
export abstract class CryptoTape<T> {
  readonly trades: T[] = [];
  protected readonly counts: TradeCounts;
  /** The id of the first trade on the tape: trade i has id idBase + i. */
  readonly idBase: number;
  private nextSecond: number;

  constructor(
    readonly instrument: string,
    private readonly seed: number,
    originSecond: number,
    rate: number,
    private readonly unit: { offsetsPerSecond: number; smallDecimals: number },
  ) {
    this.nextSecond = originSecond;
    this.counts = new TradeCounts(seed, instrument, rate);
    this.idBase = this.counts.firstIdAt(originSecond);
  }

  protected abstract level(second: number): number;

  /** Index of the first trade executed at or after `ms` (among generated trades). */
  abstract indexAtMs(ms: number): number;

  /** The venue's trade; `rand` may be drawn from for the venue's own fields. */
  protected abstract make(trade: MarketTrade, rand: () => number): T;

  /** Generates every second up to and including `second` (trades of a second are fixed once made). */
  ensure(second: number): void {
    for (; this.nextSecond <= second; this.nextSecond++) {
      const s = this.nextSecond;
      const rand = mulberry32(hashSeed(this.seed, this.instrument, s));
      const count = this.counts.countAt(s);
      const offsets = Array.from({ length: count }, () => Math.floor(rand() * this.unit.offsetsPerSecond)).sort((a, b) => a - b);
      let price = this.level(s);
      const decimals = price >= 100 ? 2 : price >= 1 ? 4 : this.unit.smallDecimals;
      for (const offset of offsets) {
        price *= 1 + (rand() - 0.5) * 0.0004;
        const priceE8 = BigInt(Math.round(Number(price.toFixed(decimals)) * 10 ** decimals)) * 10n ** BigInt(8 - decimals);
        const sizeE8 = BigInt(1 + Math.floor(rand() * 200_000)) * 1000n;
        this.trades.push(this.make({ second: s, offset, id: this.idBase + this.trades.length, priceE8, sizeE8, decimals }, rand));
      }
    }
  }

  /** How many trades are visible at `nowMs` (executed in that millisecond or before), generated on demand. */
  visible(nowMs: number): number {
    this.ensure(Math.floor(nowMs / 1000));
    return this.indexAtMs(nowMs + 1);
  }

  between(fromMs: number, toMs: number, nowMs: number): T[] {
    const end = Math.min(this.visible(nowMs), this.indexAtMs(toMs));
    return this.trades.slice(Math.min(this.indexAtMs(fromMs), end), end);
  }
}

/** One tape per instrument, its past generated now: lazily, the first request would stall every socket. */
export function startTapes<T extends CryptoTape<unknown>>(
  instruments: readonly string[],
  options: TapeOptions,
  tape: (instrument: string, seed: number, originSecond: number, rate: number) => T,
): Map<string, T> {
  const startedAt = Date.now();
  const originSecond = Math.floor((startedAt - (options.historyMs ?? 2 * 3_600_000)) / 1000);
  const tapes = new Map(instruments.map((name) => [name, tape(name, options.seed ?? 42, originSecond, options.tradesPerSecond ?? 5)]));
  for (const t of tapes.values()) t.ensure(Math.floor(startedAt / 1000));
  return tapes;
}

import { hashSeed, mulberry32 } from './random.js';

/**
 * The one market every fake quotes from, so a demo looks like a market: BTC costs about the same on
 * the fake Binance and the fake Coinbase, in USD or USDT, and SPY the same on the fake Alpaca and the
 * fake Yahoo. Each venue adds only its own trade-to-trade noise (a few basis points).
 *
 * Levels depend on the instrument and the time only, never on a fake's seed: fakes started with
 * different seeds still agree. The seed decides the trades (their count, times, sizes and noise).
 */

/** Reference prices in US dollars, near where these traded when this table was written. */
const USD_PRICES: Readonly<Record<string, number>> = {
  BTC: 100_000, ETH: 3_500, SOL: 180, BNB: 650, XRP: 2.5, ADA: 0.8, DOGE: 0.25, LTC: 100,
  // Quote currencies.
  USD: 1, USDT: 1, USDC: 1, FDUSD: 1, BUSD: 1, TUSD: 1, DAI: 1, EUR: 1.1, GBP: 1.3, TRY: 0.03,
  AAPL: 230, MSFT: 450, SPY: 600, QQQ: 520, TSLA: 300, NVDA: 150, 'BRK.B': 480, AMZN: 210, GOOGL: 180, META: 650,
};
// Stablecoins and the dollar do not move against the dollar.
const PEGGED = new Set(['USD', 'USDT', 'USDC', 'FDUSD', 'BUSD', 'TUSD', 'DAI']);
const FIAT = new Set(['EUR', 'GBP', 'TRY']);
const HOUR_S = 3_600;

function usdBase(asset: string, kind: 'crypto' | 'stock'): number {
  // An instrument the table does not list still gets one price everywhere.
  return USD_PRICES[asset] ?? (kind === 'crypto' ? 10 + (hashSeed(asset) % 100) : 20 + (hashSeed(asset) % 300));
}

/** Swings of a few percent over hours and a fraction of one over minutes; fiat far less, stocks less than crypto. */
function wave(asset: string, second: number, amplitude: number): number {
  if (PEGGED.has(asset)) return 1;
  const phase = (hashSeed(asset, 'phase') % 1000) / 159;
  return 1 + amplitude * Math.sin(second / 14_400 + phase) + amplitude * 0.25 * Math.sin(second / 420 + 2 * phase);
}

/** The price of one `base` in `quote` (crypto and currencies) at `second`. */
export function pairLevel(base: string, quote: string, second: number): number {
  const level = (asset: string) => usdBase(asset, 'crypto') * wave(asset, second, FIAT.has(asset) ? 0.003 : 0.02);
  return level(base.toUpperCase()) / level(quote.toUpperCase());
}

/** The price of a US stock or fund (`BRK.B`; Yahoo's `BRK-B` is the same share) in dollars at `second`. */
export function stockLevel(symbol: string, second: number): number {
  const share = symbol.toUpperCase().replace('-', '.');
  return usdBase(share, 'stock') * wave(share, second, 0.01);
}

/** Where trade counting starts: an id counts the trades of its instrument since then. */
const ID_EPOCH_SECOND = Date.UTC(2020, 0, 1) / 1000;

/**
 * The number of trades in each second of one instrument, chosen so that a trade's id follows from its
 * time alone: every hour holds the same number of trades (its seconds' counts are a seeded shuffle of
 * one hour's counts), so the trades before any second are a product plus one partial hour.
 *
 * Ids are therefore the same in every instance of a fake, however long its history and whenever it
 * started, and they name the same trade (time, price and size are a function of the second too): a
 * restarted fake goes on from where the last one stood and re-serves its history unchanged, as a real
 * exchange does after a client reconnects. Ids increase by one per trade, across seconds and hours.
 */
export class TradeCounts {
  private readonly hourCounts: readonly number[];
  readonly perHour: number;
  /** Distinct per seed and instrument, so fakes with different seeds do not reuse each other's ids. */
  readonly idOrigin: number;
  private cachedHour = Number.NaN;
  private cachedCounts: number[] = [];

  constructor(
    private readonly seed: number,
    private readonly instrument: string,
    tradesPerSecond: number,
  ) {
    // Uniform in 0..2r: r on average, as before the counts were shuffled.
    this.hourCounts = Array.from({ length: HOUR_S }, (_, i) => Math.floor(mulberry32(hashSeed(seed, instrument, 'count', i))() * (2 * tradesPerSecond + 1)));
    this.perHour = this.hourCounts.reduce((a, b) => a + b, 0);
    this.idOrigin = 10_000_000_000 * (1 + (hashSeed(seed, instrument, 'ids') % 800));
  }

  private countsOfHour(hour: number): number[] {
    if (hour !== this.cachedHour) {
      const counts = [...this.hourCounts];
      const rand = mulberry32(hashSeed(this.seed, this.instrument, 'hour', hour));
      for (let i = counts.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [counts[i], counts[j]] = [counts[j]!, counts[i]!];
      }
      this.cachedHour = hour;
      this.cachedCounts = counts;
    }
    return this.cachedCounts;
  }

  /** Trades executed in `second`. */
  countAt(second: number): number {
    const offset = second - ID_EPOCH_SECOND;
    const hour = Math.floor(offset / HOUR_S);
    return this.countsOfHour(hour)[offset - hour * HOUR_S]!;
  }

  /** The id of the first trade executed at or after the start of `second`. */
  firstIdAt(second: number): number {
    const offset = second - ID_EPOCH_SECOND;
    const hour = Math.floor(offset / HOUR_S);
    const counts = this.countsOfHour(hour);
    let before = hour * this.perHour;
    for (let i = 0; i < offset - hour * HOUR_S; i++) before += counts[i]!;
    return this.idOrigin + before;
  }
}

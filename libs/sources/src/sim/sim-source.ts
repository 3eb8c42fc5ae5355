import { setTimeout as sleep } from 'node:timers/promises';
import { usEquitySessions, type AssetClass } from '@tickvault/schema';
import type { HistoryRequest, MarketSource, Observation, SourceOptions, StreamContext } from '../source.js';
import { hashSeed, mulberry32 } from './random.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
// How often the stream checks the clock for trades that have come due.
const STREAM_STEP_MS = 100;
// On start, macro series publish this many past days, so a fresh install has data to look at.
const MACRO_BACKFILL_DAYS = 30;

interface Profile {
  base: number;
  decimals: number;
  sizeDecimals: number;
  minTradesPerMinute: number;
  maxTradesPerMinute: number;
}

const PROFILES: Record<AssetClass, Profile> = {
  crypto: { base: 100, decimals: 2, sizeDecimals: 6, minTradesPerMinute: 20, maxTradesPerMinute: 120 },
  stock: { base: 150, decimals: 2, sizeDecimals: 0, minTradesPerMinute: 10, maxTradesPerMinute: 60 },
  macro: { base: 3, decimals: 2, sizeDecimals: 0, minTradesPerMinute: 0, maxTradesPerMinute: 0 },
};

/** Rough price levels so simulated symbols look plausible side by side. */
const BASE_PRICES: Record<string, number> = {
  'BTC/USDT': 65000, 'ETH/USDT': 3200, 'SOL/USDT': 150, AAPL: 190, MSFT: 420, SPY: 520, DGS10: 4.2, DGS2: 4.6, DEXUSEU: 1.08,
};

/**
 * The `sim` source: a pure function of (seed, symbol, time). The same seed yields the same trades at
 * the same instants, live or through `history`, which makes restarts, gap-fill and tests reproducible.
 * Crypto trades around the clock; stocks only in NYSE regular sessions (the market calendar of
 * @tickvault/schema: no trades on weekends and NYSE holidays, none after 13:00 New York on early-close
 * days); macro has one observation per business day, stamped at 00:00 UTC of its date.
 */
export function createSimSource({ assetClass, seed }: SourceOptions): MarketSource {
  const profile = PROFILES[assetClass];

  function level(symbol: string, at: number): number {
    const base = BASE_PRICES[symbol] ?? profile.base * (1 + (hashSeed(seed, symbol) % 100) / 10);
    const phase = (hashSeed(seed, symbol, 'phase') % 1000) / 159;
    const t = at / MINUTE_MS;
    // Slow swings of a few percent: deterministic, smooth, never negative.
    return base * (1 + 0.03 * Math.sin(t / 720 + phase) + 0.01 * Math.sin(t / 37 + 2 * phase));
  }

  function minuteTrades(symbol: string, minute: number): Observation[] {
    const start = minute * MINUTE_MS;
    const rand = mulberry32(hashSeed(seed, symbol, minute));
    const count = profile.minTradesPerMinute + Math.floor(rand() * (profile.maxTradesPerMinute - profile.minTradesPerMinute + 1));
    const offsets = Array.from({ length: count }, () => Math.floor(rand() * MINUTE_MS)).sort((a, b) => a - b);
    let price = level(symbol, start);
    return offsets.map((offset, k) => {
      price *= 1 + (rand() - 0.5) * 0.0008;
      const size = (rand() * (profile.sizeDecimals === 0 ? 500 : 2) + (profile.sizeDecimals === 0 ? 1 : 0.0001)).toFixed(profile.sizeDecimals);
      return {
        symbol,
        ts: new Date(start + offset).toISOString(),
        price: price.toFixed(profile.decimals),
        size,
        // Minute number then position: unique, increasing, and numeric like exchange trade ids.
        tradeId: String(minute * 1000 + k),
      };
    });
  }

  function macroObservation(symbol: string, day: number): Observation | null {
    const weekday = new Date(day * DAY_MS).getUTCDay();
    if (weekday === 0 || weekday === 6) return null;
    const rand = mulberry32(hashSeed(seed, symbol, 'day', day));
    const value = level(symbol, day * DAY_MS) * (1 + (rand() - 0.5) * 0.01);
    return { symbol, ts: new Date(day * DAY_MS).toISOString(), price: value.toFixed(assetClass === 'macro' ? 4 : 2), size: '0', tradeId: null };
  }

  function between(symbol: string, fromMs: number, toMs: number): Observation[] {
    const out: Observation[] = [];
    if (assetClass === 'macro') {
      for (let day = Math.ceil(fromMs / DAY_MS); day * DAY_MS < toMs; day++) {
        const obs = macroObservation(symbol, day);
        if (obs) out.push(obs);
      }
      return out;
    }
    // Stocks trade in the NYSE sessions within [from, to) (each clipped to it), crypto in all of it.
    const windows = assetClass === 'stock'
      ? usEquitySessions(new Date(fromMs), new Date(toMs)).map((s) => [s.open.getTime(), s.close.getTime()] as const)
      : [[fromMs, toMs] as const];
    for (const [start, end] of windows) {
      for (let minute = Math.floor(start / MINUTE_MS); minute * MINUTE_MS < end; minute++) {
        for (const trade of minuteTrades(symbol, minute)) {
          const at = Date.parse(trade.ts);
          if (at >= start && at < end) out.push(trade);
        }
      }
    }
    return out;
  }

  return {
    id: 'sim',
    assetClass,
    async stream(ctx: StreamContext) {
      let cursor = assetClass === 'macro' ? Date.now() - MACRO_BACKFILL_DAYS * DAY_MS : Date.now();
      // Generated in-process: nothing to lose.
      ctx.onConnected?.();
      while (!ctx.signal.aborted) {
        const now = Date.now();
        for (const symbol of ctx.symbols) {
          const due = between(symbol, cursor, now);
          if (due.length > 0) ctx.emit(due);
        }
        cursor = now;
        await sleep(STREAM_STEP_MS, undefined, { signal: ctx.signal }).catch(() => {});
      }
    },
    async *history({ symbol, from, to }: HistoryRequest) {
      // Pages of an hour (crypto, stocks) or a year (macro), like a paginated REST API.
      const page = assetClass === 'macro' ? 365 * DAY_MS : 60 * MINUTE_MS;
      for (let start = from.getTime(); start < to.getTime(); start += page) {
        const batch = between(symbol, start, Math.min(to.getTime(), start + page));
        if (batch.length > 0) yield batch;
      }
    },
  };
}

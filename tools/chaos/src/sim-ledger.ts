import type { Sql } from '@tickvault/db';
import type { Tick } from '@tickvault/schema';
import { createSimSource } from '@tickvault/sources';

/** Crypto symbols in the normalized form, for the sim source (it makes 20 to 120 trades a minute per symbol). */
export function simSymbols(count: number): string[] {
  const named = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];
  return Array.from({ length: count }, (_, i) => named[i] ?? `C${i}/USDT`);
}

/**
 * The sim source is a pure function of (seed, symbol, time): its history over a window is exactly
 * the trades a live `sim` ingest emitted in that window, so it is the ground truth of what was produced.
 */
export async function simLedger(seed: number, symbols: readonly string[], from: Date | ReadonlyMap<string, Date>, to: Date): Promise<Tick[]> {
  const sim = createSimSource({ assetClass: 'crypto', seed });
  const ticks: Tick[] = [];
  for (const symbol of symbols) {
    const start = from instanceof Date ? from : from.get(symbol);
    if (!start) continue;
    for await (const page of sim.history({ symbol, from: start, to })) {
      for (const o of page) ticks.push({ source: 'sim', symbol, assetClass: 'crypto', ts: o.ts, price: o.price, size: o.size, tradeId: o.tradeId });
    }
  }
  return ticks;
}

/**
 * Each symbol's first stored sim tick (the live stream starts at "now", so that is where its
 * production began), once every symbol has one.
 */
export async function simStarts(sql: Sql, symbols: readonly string[]): Promise<Map<string, Date> | undefined> {
  const rows = await sql<{ symbol: string; first: Date }[]>`
    select symbol, min(ts) as first from ticks where source = 'sim' and symbol = any(${symbols as string[]}) group by symbol`;
  if (rows.length < symbols.length) return undefined;
  return new Map(rows.map((r) => [r.symbol, r.first]));
}

export function earliest(starts: ReadonlyMap<string, Date>): Date {
  return new Date(Math.min(...[...starts.values()].map((d) => d.getTime())));
}

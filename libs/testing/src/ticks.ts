import type { Tick, TickBatchJob } from '@tickvault/schema';

/**
 * Deterministic synthetic trades: `count` ticks over `symbols`, spaced `stepMs` apart from `startMs`,
 * with increasing numeric trade ids. Used as the ground-truth ledger in end-to-end tests and the bench.
 */
export function syntheticTicks(options: { count: number; symbols: readonly string[]; startMs: number; stepMs?: number; source?: string }): Tick[] {
  const step = options.stepMs ?? 7;
  const ticks: Tick[] = [];
  for (let i = 0; i < options.count; i++) {
    const symbol = options.symbols[i % options.symbols.length]!;
    const price = (1000 + ((i * 7919) % 5000) / 100).toFixed(2);
    const size = (((i * 104729) % 100000) / 10000 + 0.0001).toFixed(4);
    ticks.push({
      source: options.source ?? 'sim',
      symbol,
      assetClass: 'crypto',
      ts: new Date(options.startMs + i * step).toISOString(),
      price,
      size,
      tradeId: String(1_000_000 + i),
    });
  }
  return ticks;
}

export function toJobs(ticks: readonly Tick[], perJob: number, producer = 'test'): TickBatchJob[] {
  const jobs: TickBatchJob[] = [];
  for (let i = 0; i < ticks.length; i += perJob) {
    jobs.push({ v: 1, producer, ticks: ticks.slice(i, i + perJob), rejected: [] });
  }
  return jobs;
}

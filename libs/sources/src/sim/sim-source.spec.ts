import { describe, expect, it } from 'vitest';
import { createSimSource } from './sim-source.js';
import type { Observation } from '../source.js';

async function collect(iterable: AsyncIterable<readonly Observation[]>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const page of iterable) out.push(...page);
  return out;
}

describe('sim source', () => {
  const from = new Date('2026-03-04T10:00:00Z');
  const to = new Date('2026-03-04T10:10:00Z');

  it('is deterministic: the same seed gives the same trades, another seed others', async () => {
    const a = await collect(createSimSource({ assetClass: 'crypto', seed: 7 }).history({ symbol: 'BTC/USDT', from, to }));
    const b = await collect(createSimSource({ assetClass: 'crypto', seed: 7 }).history({ symbol: 'BTC/USDT', from, to }));
    const c = await collect(createSimSource({ assetClass: 'crypto', seed: 8 }).history({ symbol: 'BTC/USDT', from, to }));
    expect(a.length).toBeGreaterThan(100);
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });

  it('produces valid, ordered, unique crypto trades within the range', async () => {
    const trades = await collect(createSimSource({ assetClass: 'crypto', seed: 1 }).history({ symbol: 'ETH/USDT', from, to }));
    expect(new Set(trades.map((t) => t.tradeId)).size).toBe(trades.length);
    for (const t of trades) {
      expect(Date.parse(t.ts)).toBeGreaterThanOrEqual(from.getTime());
      expect(Date.parse(t.ts)).toBeLessThan(to.getTime());
      expect(Number(t.price)).toBeGreaterThan(0);
    }
  });

  const stockTrades = (from: string, to: string) =>
    collect(createSimSource({ assetClass: 'stock', seed: 1 }).history({ symbol: 'AAPL', from: new Date(from), to: new Date(to) }));

  it('trades stocks only in NYSE regular sessions', async () => {
    expect(await stockTrades('2026-03-07T15:00:00Z', '2026-03-07T16:00:00Z')).toEqual([]); // Saturday
    expect((await stockTrades('2026-03-04T15:00:00Z', '2026-03-04T15:10:00Z')).length).toBeGreaterThan(0); // Wednesday
    // 09:30-16:00 New York, EST and EDT.
    expect(await stockTrades('2026-03-04T14:29:00Z', '2026-03-04T14:30:00Z')).toEqual([]); // 09:29 EST
    expect((await stockTrades('2026-03-04T14:30:00Z', '2026-03-04T14:31:00Z')).length).toBeGreaterThan(0);
    expect((await stockTrades('2026-07-01T13:30:00Z', '2026-07-01T13:31:00Z')).length).toBeGreaterThan(0); // 09:30 EDT
    expect((await stockTrades('2026-07-01T19:59:00Z', '2026-07-01T20:00:00Z')).length).toBeGreaterThan(0); // 15:59 EDT
    expect(await stockTrades('2026-07-01T20:00:00Z', '2026-07-01T20:01:00Z')).toEqual([]); // 16:00 EDT
  });

  it('trades no stocks on NYSE holidays and none after 13:00 on early-close days', async () => {
    expect(await stockTrades('2026-11-26T14:30:00Z', '2026-11-26T21:00:00Z')).toEqual([]); // Thanksgiving
    expect(await stockTrades('2026-12-25T14:30:00Z', '2026-12-25T21:00:00Z')).toEqual([]); // Christmas
    // The day after Thanksgiving closes at 13:00 EST (18:00 UTC).
    const earlyClose = await stockTrades('2026-11-27T17:00:00Z', '2026-11-27T21:00:00Z');
    expect(earlyClose.length).toBeGreaterThan(0);
    expect(earlyClose.some((t) => t.ts >= '2026-11-27T17:59:00.000Z')).toBe(true); // 12:59 trades
    expect(earlyClose.every((t) => t.ts < '2026-11-27T18:00:00.000Z')).toBe(true);
    // A window across the close yields the same trades before it as the wider one.
    const across = await stockTrades('2026-11-27T17:59:30Z', '2026-11-27T18:00:30Z');
    expect(across).toEqual(earlyClose.filter((t) => t.ts >= '2026-11-27T17:59:30.000Z'));
  });

  it('publishes one macro observation per business day at 00:00 UTC', async () => {
    const obs = await collect(createSimSource({ assetClass: 'macro', seed: 1 }).history({ symbol: 'DGS10', from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-09T00:00:00Z') }));
    expect(obs.map((o) => o.ts.slice(0, 10))).toEqual(['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06']);
    expect(obs.every((o) => o.tradeId === null && o.ts.endsWith('T00:00:00.000Z'))).toBe(true);
  });

  it('streams live trades that match its history for the same span', async () => {
    const source = createSimSource({ assetClass: 'crypto', seed: 3 });
    const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];
    const streamed: Observation[] = [];
    const stop = new AbortController();
    const started = Date.now();
    const run = source.stream({
      symbols,
      emit: (o) => streamed.push(...o),
      emitBars: () => {},
      reject: () => {},
      logger: { info() {}, warn() {}, error() {} },
      signal: stop.signal,
    });
    // The sim trades 20 to 120 times a minute per symbol: wait for a few trades, not a fixed time.
    for (let waited = 0; streamed.length < 3 && waited < 30_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    await run;
    const ended = Date.now();
    expect(streamed.length).toBeGreaterThanOrEqual(3);
    for (const symbol of symbols) {
      const live = streamed.filter((o) => o.symbol === symbol);
      const expected: Observation[] = [];
      for await (const page of source.history({ symbol, from: new Date(started), to: new Date(ended) })) expected.push(...page);
      // Everything streamed is in history; history may hold trades that fell due just as the stream stopped.
      expect(expected.slice(0, live.length)).toEqual(live);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { createBinanceSource } from './binance-source.js';

/**
 * history() with every id sent as a JSON string (aggTrades `f`, historicalTrades `id`): the ids are
 * read as the integers they are, so paging by id advances instead of stopping at the first page.
 */
describe('binance history() with ids sent as strings', () => {
  it('pages historicalTrades by id and keeps every trade in range', async () => {
    const from = Date.now() - 10 * 60_000;
    const row = (id: number) => ({ id: String(id), price: '65000.01', qty: '0.5', quoteQty: '32500.005', time: from + id, isBuyerMaker: true, isBestMatch: true });
    const asked: string[] = [];
    const fetch = (async (url: string) => {
      const parsed = new URL(url);
      asked.push(`${parsed.pathname}?${parsed.searchParams.get('fromId') ?? ''}`);
      let body: unknown = [];
      if (parsed.pathname === '/api/v3/aggTrades') body = [{ a: '9', p: '65000.01', q: '0.5', f: '1', l: '1', T: from + 1, m: true, M: true }];
      if (parsed.pathname === '/api/v3/historicalTrades') {
        const fromId = Number(parsed.searchParams.get('fromId'));
        // Two pages of 3, then a short one, then nothing newer.
        body = fromId > 7 ? [] : [fromId, fromId + 1, fromId + 2].filter((id) => id <= 7).map(row);
        // A row whose id is no integer: refused with its reason, the paging goes on by the others.
        if (fromId === 4) (body as Record<string, unknown>[]).push({ ...row(5), id: '5e0' });
      }
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof globalThis.fetch;
    const source = createBinanceSource({ assetClass: 'crypto', seed: 1 }, { fetch, pageLimit: 3 });
    const ids: (string | null)[] = [];
    const refused: string[] = [];
    const request = { symbol: 'BTC/USDT', from: new Date(from), to: new Date(from + 60_000), reject: (r: { reason: string }) => void refused.push(r.reason) };
    for await (const page of source.history(request)) ids.push(...page.map((o) => o.tradeId));
    expect(ids).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(refused).toEqual(['invalid_trade_id']);
    expect(asked).toEqual(['/api/v3/aggTrades?', '/api/v3/historicalTrades?1', '/api/v3/historicalTrades?4', '/api/v3/historicalTrades?7']);
  });
});

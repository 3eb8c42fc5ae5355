import { describe, expect, it } from 'vitest';
import { startFakeAlpaca, type FakeAlpacaTrade } from './alpaca.js';
import { startFakeBinance, type FakeTrade } from './binance.js';
import { startFakeCoinbase, type FakeCoinbaseTrade } from './coinbase.js';
import { startFakeYahoo } from './yahoo.js';

const MINUTE = 60_000;

/** Waits for a condition, not for a time: fakes generate trades as the clock moves. */
async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const relative = (a: number, b: number) => Math.abs(a - b) / b;

describe('fake feeds quote one market', () => {
  it('agree on a share and a coin across venues, whatever their seeds', async () => {
    const [binance, coinbase, alpaca, yahoo] = await Promise.all([
      startFakeBinance({ seed: 5, symbols: ['BTCUSDT', 'ETHBTC'], historyMs: 5 * MINUTE }),
      startFakeCoinbase({ seed: 11, products: ['BTC-USD', 'BTC-USDT'], historyMs: 5 * MINUTE }),
      startFakeAlpaca({ seed: 12, symbols: ['SPY'], historyMs: 5 * MINUTE }),
      startFakeYahoo({ seed: 13, symbols: ['SPY'] }),
    ]);
    try {
      const now = Date.now();
      const lastOf = <T>(trades: T[]) => trades.at(-1)!;
      const btcBinance = Number(lastOf(binance.trades('BTCUSDT', now - MINUTE, now + 1)).price);
      const btcCoinbase = Number(lastOf(coinbase.trades('BTC-USD', now - MINUTE, now + 1)).price);
      const btcCoinbaseUsdt = Number(lastOf(coinbase.trades('BTC-USDT', now - MINUTE, now + 1)).price);
      const ethBtc = Number(lastOf(binance.trades('ETHBTC', now - MINUTE, now + 1)).price);
      const spyAlpaca = Number(lastOf(alpaca.trades('SPY', now - MINUTE, now + 1)).price);
      const spyYahoo = Number(yahoo.quote('SPY', now).price);

      // A current-ish BTC, the same in USD and USDT, and the same on both exchanges (venue noise only).
      expect(btcCoinbaseUsdt).toBeGreaterThan(50_000);
      expect(relative(btcCoinbaseUsdt, btcCoinbase)).toBeLessThan(0.005);
      expect(relative(btcBinance, btcCoinbase)).toBeLessThan(0.005);
      expect(ethBtc).toBeGreaterThan(0.01);
      expect(ethBtc).toBeLessThan(0.1);
      expect(spyAlpaca).toBeGreaterThan(300);
      expect(relative(spyYahoo, spyAlpaca)).toBeLessThan(0.005);
    } finally {
      await Promise.all([binance.close(), coinbase.close(), alpaca.close(), yahoo.close()]);
    }
  });
});

describe('a restarted fake keeps its trade ids', () => {
  it('binance: the next instance serves the same trades under the same ids and continues the sequence', async () => {
    const first = await startFakeBinance({ seed: 42, symbols: ['BTCUSDT'], tradesPerSecond: 20, historyMs: MINUTE });
    const before: FakeTrade[] = first.trades('BTCUSDT', 0, Number.MAX_SAFE_INTEGER);
    await first.close();
    const last = before.at(-1)!;
    // A longer history: its tape starts earlier than the first one's did.
    const second = await startFakeBinance({ seed: 42, symbols: ['BTCUSDT'], tradesPerSecond: 20, historyMs: 2 * MINUTE });
    const other = await startFakeBinance({ seed: 43, symbols: ['BTCUSDT'], tradesPerSecond: 20, historyMs: MINUTE });
    try {
      const after = await until(() => {
        const trades = second.trades('BTCUSDT', 0, Number.MAX_SAFE_INTEGER);
        return trades.at(-1)!.time > last.time ? trades : undefined;
      }, 'the second instance trading past the first one');
      expectConsecutive(after.map((t) => t.id));
      const byId = new Map(after.map((t) => [t.id, t]));
      // Every id the first instance issued names the same trade in the second (none reissued with another time).
      for (const t of before) expect(byId.get(t.id), `trade ${t.id}`).toEqual(t);
      // Past the first instance's last trade the ids go on from it.
      const next = after.find((t) => t.time > last.time || (t.time === last.time && t.id > last.id))!;
      expect(next.id).toBe(last.id + 1);
      // Another seed is another market: ids of its own.
      const otherIds = other.trades('BTCUSDT', 0, Number.MAX_SAFE_INTEGER).map((t) => t.id);
      expect(Math.max(...otherIds) < before[0]!.id || Math.min(...otherIds) > after.at(-1)!.id).toBe(true);
    } finally {
      await Promise.all([second.close(), other.close()]);
    }
  });

  it('coinbase: the same trades, ids and sequences after a restart, continuing from the last', async () => {
    const first = await startFakeCoinbase({ seed: 42, products: ['BTC-USDT'], tradesPerSecond: 20, historyMs: MINUTE });
    const before: FakeCoinbaseTrade[] = first.trades('BTC-USDT', 0, Number.MAX_SAFE_INTEGER);
    await first.close();
    const last = before.at(-1)!;
    const second = await startFakeCoinbase({ seed: 42, products: ['BTC-USDT'], tradesPerSecond: 20, historyMs: 2 * MINUTE });
    try {
      const after = await until(() => {
        const trades = second.trades('BTC-USDT', 0, Number.MAX_SAFE_INTEGER);
        return trades.at(-1)!.timeUs > last.timeUs ? trades : undefined;
      }, 'the second instance trading past the first one');
      expectConsecutive(after.map((t) => t.tradeId));
      for (let i = 1; i < after.length; i++) expect(after[i]!.sequence).toBeGreaterThan(after[i - 1]!.sequence);
      const byId = new Map(after.map((t) => [t.tradeId, t]));
      for (const t of before) expect(byId.get(t.tradeId), `trade ${t.tradeId}`).toEqual(t);
      expect(after.find((t) => t.tradeId > last.tradeId)!.timeUs).toBeGreaterThanOrEqual(last.timeUs);
    } finally {
      await second.close();
    }
  });

  it('alpaca: the same trade under each exchange and id after a restart', async () => {
    const first = await startFakeAlpaca({ seed: 42, symbols: ['SPY'], tradesPerSecond: 20, historyMs: MINUTE });
    const before: FakeAlpacaTrade[] = first.trades('SPY', 0, Number.MAX_SAFE_INTEGER);
    await first.close();
    const second = await startFakeAlpaca({ seed: 42, symbols: ['SPY'], tradesPerSecond: 20, historyMs: 2 * MINUTE });
    try {
      const after = second.trades('SPY', 0, Number.MAX_SAFE_INTEGER);
      const byKey = new Map(after.map((t) => [`${t.exchange}-${t.id}`, t]));
      for (const t of before) expect(byKey.get(`${t.exchange}-${t.id}`), `trade ${t.exchange}-${t.id}`).toMatchObject({ ns: t.ns, price: t.price, size: t.size });
    } finally {
      await second.close();
    }
  });
});

function expectConsecutive(ids: number[]): void {
  for (let i = 1; i < ids.length; i++) if (ids[i] !== ids[i - 1]! + 1) throw new Error(`ids ${ids[i - 1]} then ${ids[i]}`);
}

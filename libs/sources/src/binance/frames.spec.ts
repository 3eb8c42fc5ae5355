import { describe, expect, it } from 'vitest';
import { checkTradeRow, MAX_FRAME_BYTES, parseFrame, type CheckContext } from './frames.js';
import { SubscribedSymbols } from './symbols.js';
import { expectOutcomes, outcomeOf } from '../kit/testing.js';

const NOW = Date.parse('2026-03-04T10:00:00.000Z');
const ctx: CheckContext = { subscribed: new SubscribedSymbols(['BTC/USDT', 'ETH/USDT']), now: NOW, maxFutureMs: 120_000 };

const trade = (data: Record<string, unknown> = {}, stream = 'btcusdt@trade') =>
  JSON.stringify({ stream, data: { e: 'trade', E: NOW, s: 'BTCUSDT', t: 12345, p: '65000.01000000', q: '0.00120000', T: NOW - 5, m: true, M: true, ...data } });
const parse = (text: string) => parseFrame(text, Buffer.byteLength(text), ctx);
const reasonOf = outcomeOf(parse);

describe('Binance trade frames', () => {
  it('turns a combined-stream trade into an observation with the decimals as sent', () => {
    const outcome = parse(trade());
    expect(outcome).toEqual({
      kind: 'trade',
      trade: {
        symbol: 'BTC/USDT',
        id: 12345,
        time: NOW - 5,
        observation: { symbol: 'BTC/USDT', ts: '2026-03-04T09:59:59.995Z', price: '65000.01000000', size: '0.00120000', tradeId: '12345' },
      },
    });
  });

  it('reads raw-stream frames (no wrapper) the same way', () => {
    const raw = JSON.stringify({ e: 'trade', E: NOW, s: 'ETHUSDT', t: 7, p: '3200.5', q: '1', T: NOW, m: false, M: true });
    const outcome = parse(raw);
    expect(outcome.kind === 'trade' && outcome.trade.observation.symbol).toBe('ETH/USDT');
  });

  it('rejects bad input with the right reason and a sample, never throwing', () => {
    expectOutcomes(reasonOf, {
      malformed: [
        '{"stream":"btcusdt@trade","data":{', '[1,2,3]', '"hello"', JSON.stringify({ stream: 'x', data: 5 }), trade({ s: undefined }),
        JSON.stringify({ stream: 'btcusdt@aggTrade', data: { e: 'aggTrade', s: 'BTCUSDT', a: 1 } }),
      ],
      unknown_symbol: [trade({ s: 'XRPUSDT' }, 'xrpusdt@trade')],
      // A number has lost the decimals as sent.
      invalid_price: [trade({ p: 'abc' }), trade({ p: '0.00000000' }), trade({ p: '-1.5' }), trade({ p: '1e5' }), trade({ p: 'Infinity' }), trade({ p: 65000.01 })],
      invalid_size: [trade({ q: '-1.50000000' }), trade({ q: 'NaN' })],
      invalid_trade_id: [trade({ t: -1 }), trade({ t: '12e3' }), trade({ t: 1.5 })],
      // Microseconds are no milliseconds.
      invalid_timestamp: [trade({ T: 'yesterday' }), trade({ T: (NOW - 5) * 1000 })],
      future_timestamp: [trade({ T: NOW + 86_400_000 })],
      // An integer id sent as a string (kit/json-id.spec.ts); a time within the allowed skew.
      trade: [trade({ t: '12345' }), trade({ T: NOW + 60_000 })],
    });
  });

  it('names the symbol of an unknown-symbol frame in normalized form', () => {
    const outcome = parse(trade({ s: 'XRPUSDT' }, 'xrpusdt@trade'));
    expect(outcome.kind === 'rejected' && outcome.rejection).toMatchObject({ symbol: 'XRP/USDT', reason: 'unknown_symbol' });
  });

  it('refuses frames over 64 KiB unread', () => {
    const big = trade({ padding: 'x'.repeat(MAX_FRAME_BYTES) });
    const outcome = parse(big);
    expect(outcome.kind === 'rejected' && outcome.rejection.reason).toBe('oversized');
    expect(outcome.kind === 'rejected' && outcome.rejection.sample.length).toBeLessThanOrEqual(500);
  });

  it('recognizes serverShutdown in any wrapping, and control replies', () => {
    expect(parse(JSON.stringify({ event: { e: 'serverShutdown', E: NOW } })).kind).toBe('shutdown');
    expect(parse(JSON.stringify({ e: 'serverShutdown', E: NOW })).kind).toBe('shutdown');
    expect(parse(JSON.stringify({ stream: 'x', data: { e: 'serverShutdown', E: NOW } })).kind).toBe('shutdown');
    expect(parse(JSON.stringify({ result: null, id: 1 })).kind).toBe('control');
    expect(parse(JSON.stringify({ code: 3, msg: 'Invalid JSON' })).kind).toBe('control');
  });

  it('checks REST trade rows like stream trades', () => {
    const row = { id: 28457, price: '4.00000100', qty: '12.00000000', quoteQty: '48.000012', time: NOW, isBuyerMaker: true, isBestMatch: true };
    const ok = checkTradeRow(row, 'ETHUSDT', ctx);
    expect(ok.ok && ok.trade.observation).toEqual({ symbol: 'ETH/USDT', ts: new Date(NOW).toISOString(), price: '4.00000100', size: '12.00000000', tradeId: '28457' });
    const bad = checkTradeRow({ ...row, price: '-4' }, 'ETHUSDT', ctx);
    expect(!bad.ok && bad.rejection.reason).toBe('invalid_price');
    expect(checkTradeRow('nope', 'ETHUSDT', ctx).ok).toBe(false);
  });
});

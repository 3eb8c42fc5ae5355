import { describe, expect, it } from 'vitest';
import { checkTradeRow, MAX_FRAME_BYTES, parseFrame, type CheckContext } from './frames.js';
import { SubscribedSymbols } from './symbols.js';

const NOW = Date.parse('2026-03-04T10:00:00.000Z');
const ctx: CheckContext = { subscribed: new SubscribedSymbols(['BTC/USDT', 'ETH/USDT']), now: NOW, maxFutureMs: 120_000 };

const trade = (data: Record<string, unknown> = {}, stream = 'btcusdt@trade') =>
  JSON.stringify({ stream, data: { e: 'trade', E: NOW, s: 'BTCUSDT', t: 12345, p: '65000.01000000', q: '0.00120000', T: NOW - 5, m: true, M: true, ...data } });
const parse = (text: string) => parseFrame(text, Buffer.byteLength(text), ctx);
const reasonOf = (text: string) => {
  const outcome = parse(text);
  return outcome.kind === 'rejected' ? outcome.rejection.reason : outcome.kind;
};

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
    expect(reasonOf('{"stream":"btcusdt@trade","data":{')).toBe('malformed');
    expect(reasonOf('[1,2,3]')).toBe('malformed');
    expect(reasonOf('"hello"')).toBe('malformed');
    expect(reasonOf(JSON.stringify({ stream: 'btcusdt@aggTrade', data: { e: 'aggTrade', s: 'BTCUSDT', a: 1 } }))).toBe('malformed');
    expect(reasonOf(JSON.stringify({ stream: 'x', data: 5 }))).toBe('malformed');
    expect(reasonOf(trade({ s: undefined }))).toBe('malformed');
    expect(reasonOf(trade({ s: 'XRPUSDT' }, 'xrpusdt@trade'))).toBe('unknown_symbol');
    expect(reasonOf(trade({ p: 'abc' }))).toBe('invalid_price');
    expect(reasonOf(trade({ p: '0.00000000' }))).toBe('invalid_price');
    expect(reasonOf(trade({ p: '-1.5' }))).toBe('invalid_price');
    expect(reasonOf(trade({ p: '1e5' }))).toBe('invalid_price');
    expect(reasonOf(trade({ p: 'Infinity' }))).toBe('invalid_price');
    expect(reasonOf(trade({ p: 65000.01 }))).toBe('invalid_price'); // a number has lost the decimals as sent
    expect(reasonOf(trade({ q: '-1.50000000' }))).toBe('invalid_size');
    expect(reasonOf(trade({ q: 'NaN' }))).toBe('invalid_size');
    expect(reasonOf(trade({ t: -1 }))).toBe('invalid_trade_id');
    expect(reasonOf(trade({ t: '12345' }))).toBe('trade'); // an integer sent as a string (kit/json-id.spec.ts)
    expect(reasonOf(trade({ t: '12e3' }))).toBe('invalid_trade_id');
    expect(reasonOf(trade({ t: 1.5 }))).toBe('invalid_trade_id');
    expect(reasonOf(trade({ T: 'yesterday' }))).toBe('invalid_timestamp');
    expect(reasonOf(trade({ T: (NOW - 5) * 1000 }))).toBe('invalid_timestamp'); // microseconds
    expect(reasonOf(trade({ T: NOW + 86_400_000 }))).toBe('future_timestamp');
    expect(reasonOf(trade({ T: NOW + 60_000 }))).toBe('trade'); // within the allowed skew
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

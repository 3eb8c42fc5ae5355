import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import {
  checkCandleRow, checkTradeRow, compareDecimals, invalidProductOf, jsonNumberToDecimal, MAX_FRAME_BYTES, parseCoinbaseTime, parseMessage, type CheckContext,
} from './frames.js';
import { rowId } from './catch-up.js';
import { SubscribedProducts } from './symbols.js';
import { expectOutcomes, outcomeOf } from '../kit/testing.js';

const NOW = Date.parse('2026-03-04T10:00:00.000Z');
const ctx: CheckContext = { subscribed: new SubscribedProducts(['BTC/USD', 'ETH/USD']), now: NOW, maxFutureMs: 120_000 };

const match = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'match', trade_id: 10, sequence: 50, maker_order_id: 'ac928c66-ca53-498f-9c13-a110027a60e8', taker_order_id: '132fb6ae-456b-4654-b4e0-d681ac05cea1',
    time: '2026-03-04T09:59:59.028459Z', product_id: 'BTC-USD', size: '5.23512', price: '400.23', side: 'sell', ...fields,
  });
const parseText = (text: string) => parseMessage(text, Buffer.byteLength(text), ctx);
const reasonOf = outcomeOf(parseText);

describe('Coinbase ws-feed messages', () => {
  it('turns a match into an observation with decimals and microseconds as sent', () => {
    expect(parseText(match())).toEqual({
      kind: 'match',
      last: false,
      sequence: 50,
      trade: {
        symbol: 'BTC/USD',
        id: 10,
        timeUs: Date.parse('2026-03-04T09:59:59.028Z') * 1000 + 459,
        observation: { symbol: 'BTC/USD', ts: '2026-03-04T09:59:59.028459Z', price: '400.23', size: '5.23512', tradeId: '10' },
      },
    });
    const last = parseText(match({ type: 'last_match', product_id: 'ETH-USD' }));
    expect(last.kind === 'match' && last.last && last.trade.symbol).toBe('ETH/USD');
  });

  it('accepts a trade id sent as a JSON string of digits, as Coinbase has been seen to send it', () => {
    const asNumber = parseText(match({ trade_id: 18502034 }));
    const asString = parseText(match({ trade_id: '18502034' }));
    expect(asString).toEqual(asNumber);
    expect(asString.kind === 'match' && asString.trade.id).toBe(18502034);
    expect(asString.kind === 'match' && asString.trade.observation.tradeId).toBe('18502034');
    const last = parseText(match({ type: 'last_match', trade_id: '7' }));
    expect(last.kind === 'match' && last.last && last.trade.id).toBe(7);
    expect(parseText(JSON.stringify({ type: 'heartbeat', sequence: 90, last_trade_id: '20', product_id: 'BTC-USD', time: '2026-03-04T09:59:59.464459Z' }))).toEqual({
      kind: 'heartbeat', symbol: 'BTC/USD', lastTradeId: 20, sequence: 90,
    });
    expect(reasonOf(JSON.stringify({ type: 'heartbeat', sequence: 1, last_trade_id: '2.0', product_id: 'BTC-USD' }))).toBe('malformed');
  });

  it('reads heartbeats, subscriptions and error notices', () => {
    expect(parseText(JSON.stringify({ type: 'heartbeat', sequence: 90, last_trade_id: 20, product_id: 'BTC-USD', time: '2026-03-04T09:59:59.464459Z' }))).toEqual({
      kind: 'heartbeat', symbol: 'BTC/USD', lastTradeId: 20, sequence: 90,
    });
    // A heartbeat for a product not asked for carries nothing to refuse.
    expect(reasonOf(JSON.stringify({ type: 'heartbeat', sequence: 1, last_trade_id: 2, product_id: 'SOL-USD', time: '2026-03-04T09:59:59Z' }))).toBe('ignored');
    expect(reasonOf(JSON.stringify({ type: 'heartbeat', sequence: 1, last_trade_id: 'x', product_id: 'BTC-USD' }))).toBe('malformed');
    expect(parseText(JSON.stringify({ type: 'subscriptions', channels: [{ name: 'matches', product_ids: ['BTC-USD'] }, { name: 'heartbeat', product_ids: ['BTC-USD', 'ETH-USD'] }] }))).toEqual({
      kind: 'subscriptions', matches: ['BTC-USD'], heartbeat: ['BTC-USD', 'ETH-USD'],
    });
    const error = parseText(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'XRP-USD is not a valid product' }));
    expect(error).toMatchObject({ kind: 'error', message: 'Failed to subscribe', reason: 'XRP-USD is not a valid product' });
    expect(invalidProductOf('XRP-USD is not a valid product')).toBe('XRP-USD');
    expect(invalidProductOf('ErrSlowConsume')).toBeNull();
  });

  it('ignores message types it does not use, as Coinbase asks of clients', () => {
    expect(parseText(JSON.stringify({ type: 'ticker', product_id: 'BTC-USD', price: '1' }))).toEqual({ kind: 'ignored', type: 'ticker' });
  });

  it('rejects bad input with the right reason and a sample, never throwing', () => {
    expectOutcomes(reasonOf, {
      malformed: ['{"type":"match","trade_id":', '[1,2,3]', '"hello"', JSON.stringify({ product_id: 'BTC-USD', price: '1' }), match({ product_id: undefined })],
      unknown_symbol: [match({ product_id: 'XRP-USD' })],
      // A number has lost the decimals as sent.
      invalid_price: [match({ price: 'abc' }), match({ price: '0.00' }), match({ price: '-1.5' }), match({ price: '1e5' }), match({ price: 400.23 })],
      invalid_size: [match({ size: '-1.5' }), match({ size: 'NaN' })],
      // An id sent as a string must be the digits of an integer and nothing else.
      invalid_trade_id: [-1, 1.5, '', '-10', '+10', '1.5', '1e3', ' 10', '10 ', '0x1A', 'x1', '99999999999999999999'].map((id) => match({ trade_id: id })),
      invalid_timestamp: [
        match({ time: 'yesterday' }), match({ time: '2026-02-30T10:00:00.000000Z' }), match({ time: '2026-03-04T10:00:00.000000+01:00' }), match({ time: 1772618399 }),
      ],
      future_timestamp: [match({ time: '2026-03-05T10:00:00.000000Z' })],
      // Within the allowed skew.
      match: [match({ time: '2026-03-04T10:01:00.000000Z' })],
    });
    const unknown = parseText(match({ product_id: 'XRP-USD' }));
    expect(unknown.kind === 'rejected' && unknown.rejection.symbol).toBe('XRP/USD');
    const big = match({ padding: 'x'.repeat(MAX_FRAME_BYTES) });
    const oversized = parseText(big);
    expect(oversized.kind === 'rejected' && oversized.rejection.reason).toBe('oversized');
    expect(oversized.kind === 'rejected' && oversized.rejection.sample.length).toBe(500);
  });

  it('keeps trade times as sent up to microseconds', () => {
    expect(parseCoinbaseTime('2026-03-04T09:59:59Z')).toEqual({ ts: '2026-03-04T09:59:59Z', timeUs: Date.parse('2026-03-04T09:59:59Z') * 1000 });
    expect(parseCoinbaseTime('2026-03-04T09:59:59.5Z')?.ts).toBe('2026-03-04T09:59:59.5Z');
    expect(parseCoinbaseTime('2026-03-04T09:59:59.123456789Z')).toEqual({ ts: '2026-03-04T09:59:59.123456Z', timeUs: Date.parse('2026-03-04T09:59:59.123Z') * 1000 + 456 });
    expect(parseCoinbaseTime('2026-03-04 09:59:59Z')).toBeNull();
    expect(parseCoinbaseTime('2026-13-04T09:59:59Z')).toBeNull();
  });
});

describe('Coinbase REST rows', () => {
  it('checks trades rows like matches', () => {
    const row = { time: '2026-03-04T09:59:58.578544Z', trade_id: 74, price: '10.00000000', size: '0.01000000', side: 'buy' };
    const checked = checkTradeRow(row, 'BTC-USD', ctx);
    expect(checked.ok && checked.trade.observation).toEqual({ symbol: 'BTC/USD', ts: '2026-03-04T09:59:58.578544Z', price: '10.00000000', size: '0.01000000', tradeId: '74' });
    // Lossless-parsed rows carry the id as a LosslessNumber.
    const lossless = checkTradeRow((parse(JSON.stringify([row])) as unknown[])[0], 'BTC-USD', ctx);
    expect(lossless.ok && lossless.trade.id).toBe(74);
    // Both shapes of trade_id, as a lossless parse of a REST body gives them.
    const [numeric, quoted] = parse(JSON.stringify([row, { ...row, trade_id: '18502034' }])) as unknown[];
    const fromString = checkTradeRow(quoted, 'BTC-USD', ctx);
    expect(checkTradeRow(numeric, 'BTC-USD', ctx).ok).toBe(true);
    expect(fromString.ok && fromString.trade.id).toBe(18502034);
    expect(fromString.ok && fromString.trade.observation.tradeId).toBe('18502034');
    expect(rowId(quoted)).toBe(18502034);
    expect(rowId(numeric)).toBe(74);
    for (const id of ['-74', '74.0', '7e1', ' 74', 'abc']) {
      const refused = checkTradeRow({ ...row, trade_id: id }, 'BTC-USD', ctx);
      expect(!refused.ok && refused.rejection.reason, id).toBe('invalid_trade_id');
      expect(rowId({ ...row, trade_id: id }), id).toBeNaN();
    }
    const bad = checkTradeRow({ ...row, price: '0' }, 'BTC-USD', ctx);
    expect(!bad.ok && bad.rejection.reason).toBe('invalid_price');
    expect(checkTradeRow('x', 'BTC-USD', ctx).ok).toBe(false);
  });

  it('turns JSON number text into plain decimals without a float', () => {
    const numbers = parse('[65000.01, 4.2, 0.1, 12.30, 1.2e-07, 5e-08, 1E+3, 0, -1, 123456789012345678.123456789]') as unknown[];
    expect(numbers.map(jsonNumberToDecimal)).toEqual(['65000.01', '4.2', '0.1', '12.30', '0.00000012', '0.00000005', '1000', '0', null, '123456789012345678.123456789']);
    expect(jsonNumberToDecimal('00012.50')).toBe('12.50');
    expect(jsonNumberToDecimal(0.1)).toBeNull(); // a float has already lost its text
    expect(jsonNumberToDecimal((parse('[1e-30]') as unknown[])[0])).toBeNull(); // more decimals than the store keeps
  });

  it('compares decimals exactly', () => {
    expect(compareDecimals('10', '9.99')).toBe(1);
    expect(compareDecimals('1.50', '1.5')).toBe(0);
    expect(compareDecimals('0.00000001', '0.0000001')).toBe(-1);
  });

  it('turns candle rows into one-minute bars and refuses inconsistent ones', () => {
    const rows = parse('[[1772618340, 64990.01, 65010.5, 65000, 65001.99, 12.3456789], [1772618370, 1, 2, 1, 2, 3], [1772618400, 2, 1, 1.5, 1.5, 1], [1772618400, 0, 1, 0.5, 0.5, 1], [1772618400, 1, 2, 3, 1.5, 1], [1772618400, 1, 2, 1.5, 1.5], [1772618400, 1, 2, 1.5, 1.5, -1]]') as unknown[];
    expect(checkCandleRow(rows[0], 'BTC/USD')).toEqual({
      ok: true,
      openMs: 1_772_618_340_000,
      bar: { symbol: 'BTC/USD', openTime: '2026-03-04T09:59:00Z', open: '65000', high: '65010.5', low: '64990.01', close: '65001.99', volume: '12.3456789', tradeCount: null },
    });
    expect(rows.slice(1).map((row) => checkCandleRow(row, 'BTC/USD').ok)).toEqual([false, false, false, false, false, false]);
  });
});

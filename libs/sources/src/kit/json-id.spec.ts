import { parse as parseLossless } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { jsonIdDigits, jsonIdInteger } from './json-id.js';
import { checkTradeRow as checkBinanceRow, parseFrame as parseBinanceFrame, type CheckContext as BinanceContext } from '../binance/frames.js';
import { SubscribedSymbols } from '../binance/symbols.js';
import { MAX_FRAME_BYTES as ALPACA_MAX_FRAME, parseFrame as parseAlpacaFrame, type CheckContext as AlpacaContext } from '../alpaca/frames.js';

// Not ids: a sign, a decimal point, an exponent, whitespace, hex, letters, nothing, or more than 20 digits.
const NOT_IDS = ['', '-10', '+10', '1.5', '1e3', ' 10', '10 ', '0x1A', 'x1', '123456789012345678901'];

describe('integer ids sent as JSON numbers or strings', () => {
  it('reads numbers, lossless numbers and digit strings as the same id', () => {
    const lossless = (parseLossless('[18502034]') as unknown[])[0];
    for (const value of [18502034, lossless, '18502034', '0018502034']) {
      expect(jsonIdDigits(value), String(value)).toBe('18502034');
      expect(jsonIdInteger(value), String(value)).toBe(18502034);
    }
    expect(jsonIdDigits('0')).toBe('0');
  });

  it('refuses everything else', () => {
    for (const value of [...NOT_IDS, -1, 1.5, Number.NaN, 2 ** 53, null, undefined, true, {}, []]) {
      expect(jsonIdDigits(value), JSON.stringify(value)).toBeNull();
      expect(jsonIdInteger(value), JSON.stringify(value)).toBeNaN();
    }
  });

  it('keeps ids past 2^53 as digits, but not as numbers (NaN: never a wrong id)', () => {
    expect(jsonIdDigits('99999999999999999999')).toBe('99999999999999999999');
    expect(jsonIdInteger('99999999999999999999')).toBeNaN();
  });
});

describe('Binance trade ids sent as strings', () => {
  const NOW = Date.parse('2026-03-04T10:00:00.000Z');
  const ctx: BinanceContext = { subscribed: new SubscribedSymbols(['BTC/USDT']), now: NOW, maxFutureMs: 120_000 };
  const frame = (t: unknown) => {
    const text = JSON.stringify({ stream: 'btcusdt@trade', data: { e: 'trade', E: NOW, s: 'BTCUSDT', t, p: '65000.01', q: '0.5', T: NOW - 5, m: true, M: true } });
    return parseBinanceFrame(text, Buffer.byteLength(text), ctx);
  };

  it('accepts a stream trade id "12345" as 12345', () => {
    expect(frame('12345')).toMatchObject({ kind: 'trade', trade: { id: 12345, observation: { tradeId: '12345' } } });
  });

  it('accepts a REST trade row id sent as a string', () => {
    const checked = checkBinanceRow({ id: '700', price: '65000.01', qty: '0.5', time: NOW - 5 }, 'BTCUSDT', ctx);
    expect(checked).toMatchObject({ ok: true, trade: { id: 700, observation: { tradeId: '700' } } });
  });

  it('refuses other strings as invalid_trade_id, naming the value', () => {
    for (const id of NOT_IDS) {
      const outcome = frame(id);
      expect(outcome.kind, JSON.stringify(id)).toBe('rejected');
      if (outcome.kind === 'rejected') {
        expect(outcome.rejection.reason).toBe('invalid_trade_id');
        expect(outcome.rejection.detail).toContain(JSON.stringify(id));
      }
    }
  });
});

describe('Alpaca trade ids sent as strings', () => {
  const NOW = Date.parse('2026-03-04T15:00:00.000Z');
  const ctx: AlpacaContext = { lookup: (s) => (s === 'AAPL' ? s : undefined), now: NOW, maxFutureMs: 120_000, barIntervalMs: 60_000, maxFrameBytes: ALPACA_MAX_FRAME };
  const frame = (i: unknown) => {
    const text = `[${JSON.stringify({ T: 't', i, S: 'AAPL', x: 'D', p: 126.55, s: 1, t: '2026-03-04T14:51:44.208Z', c: ['@'], z: 'C' })}]`;
    return parseAlpacaFrame(text, Buffer.byteLength(text), ctx);
  };

  it('accepts "96921" as the id 96921 (the same stored key as the number)', () => {
    expect(frame('96921').trades.map((t) => t.observation.tradeId)).toEqual(['D-96921']);
    expect(frame(96921).trades.map((t) => t.observation.tradeId)).toEqual(['D-96921']);
  });

  it('refuses other strings as invalid_trade_id', () => {
    for (const id of NOT_IDS) {
      const result = frame(id);
      expect(result.trades, JSON.stringify(id)).toEqual([]);
      expect(result.rejections.map((r) => r.reason), JSON.stringify(id)).toEqual(['invalid_trade_id']);
    }
  });
});

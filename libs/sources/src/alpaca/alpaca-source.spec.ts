import { describe, expect, it } from 'vitest';
import { ALPACA_DEFAULTS, AlpacaConfigError, createAlpacaSource } from './alpaca-source.js';
import type { SourceSettings } from '../source.js';

const create = (alpaca: SourceSettings['alpaca']) => () => createAlpacaSource({ assetClass: 'stock', seed: 0, settings: { alpaca } });

describe('alpaca source configuration', () => {
  it('needs a key id and a secret, and says which variable is missing', () => {
    expect(create(undefined)).toThrow(AlpacaConfigError);
    expect(create(undefined)).toThrow(/ALPACA_KEY_ID and ALPACA_SECRET_KEY are not set/);
    expect(create({ keyId: 'PKTEST' })).toThrow(/ALPACA_SECRET_KEY is not set/);
    expect(create({ secretKey: 'shh' })).toThrow(/ALPACA_KEY_ID is not set/);
    expect(create({ keyId: 'PKTEST', secretKey: '' })).toThrow(/ALPACA_SECRET_KEY/);
  });

  it('refuses a malformed feed or URL, naming the variable', () => {
    expect(create({ keyId: 'k', secretKey: 's', feed: 'IEX/x' })).toThrow(/ALPACA_FEED "IEX\/x"/);
    expect(create({ keyId: 'k', secretKey: 's', wsUrl: 'https://stream.data.alpaca.markets/v2' })).toThrow(/ALPACA_WS_URL/);
    expect(create({ keyId: 'k', secretKey: 's', restUrl: 'data.alpaca.markets' })).toThrow(/ALPACA_REST_URL/);
  });

  it('has the free plan defaults and the stock source shape', () => {
    expect(ALPACA_DEFAULTS).toEqual({
      wsUrl: 'wss://stream.data.alpaca.markets/v2',
      restUrl: 'https://data.alpaca.markets',
      feed: 'iex',
      staleSeconds: 30,
      requestsPerMinute: 200,
    });
    const source = create({ keyId: 'k', secretKey: 's' })();
    expect(source.id).toBe('alpaca');
    expect(source.assetClass).toBe('stock');
    expect(source.resumesItself).toBe(true);
    expect(typeof source.bars).toBe('function');
  });

  it('asks the shared limiter factory for the alpaca budget', () => {
    const asked: [string, number][] = [];
    createAlpacaSource({
      assetClass: 'stock',
      seed: 0,
      settings: { alpaca: { keyId: 'k', secretKey: 's', requestsPerMinute: 150 } },
      limiter: (key, budget) => {
        asked.push([key, budget.perMinute]);
        return { acquire: async () => {}, pauseUntil: () => {}, reportUsed: () => {} };
      },
    });
    expect(asked).toEqual([['alpaca', 150]]);
  });

  it('rejects symbols that are not stock tickers at stream start and waits for the stop', async () => {
    const source = create({ keyId: 'k', secretKey: 's', wsUrl: 'ws://127.0.0.1:9/v2' })();
    const rejections: string[] = [];
    const abort = new AbortController();
    const done = source.stream({
      symbols: ['BTC/USD', 'aapl'],
      emit: () => {},
      emitBars: () => {},
      reject: (r) => rejections.push(`${r.symbol}:${r.reason}`),
      logger: { info() {}, warn() {}, error() {} },
      signal: abort.signal,
    });
    abort.abort();
    await done;
    expect(rejections).toEqual(['BTC/USD:invalid_symbol', 'aapl:invalid_symbol']);
  });
});

import { describe, expect, it } from 'vitest';
import { TokenBucketLimiter } from '../rate-limiter.js';
import { COINBASE_DEFAULTS, createCoinbaseSource } from './coinbase-source.js';

describe('createCoinbaseSource', () => {
  it('is the keyless crypto source that resumes by itself', () => {
    const source = createCoinbaseSource({ assetClass: 'crypto', seed: 0 });
    expect(source.id).toBe('coinbase');
    expect(source.assetClass).toBe('crypto');
    expect(source.resumesItself).toBe(true);
    expect(typeof source.bars).toBe('function');
    expect(COINBASE_DEFAULTS).toEqual({
      wsUrl: 'wss://ws-feed.exchange.coinbase.com',
      restUrl: 'https://api.exchange.coinbase.com',
      staleSeconds: 10,
      requestsPerMinute: 480,
    });
  });

  it('asks the shared limiter factory for the coinbase budget', () => {
    const asked: [string, number][] = [];
    createCoinbaseSource({
      assetClass: 'crypto',
      seed: 0,
      settings: { coinbase: { requestsPerMinute: 300 } },
      limiter: (key, budget) => {
        asked.push([key, budget.perMinute]);
        return new TokenBucketLimiter({ weightPerMinute: budget.perMinute });
      },
    });
    expect(asked).toEqual([['coinbase', 300]]);
  });

  it('fails at creation on a bad setting, naming its environment variable', () => {
    const create = (coinbase: Record<string, unknown>) => () => createCoinbaseSource({ assetClass: 'crypto', seed: 0, settings: { coinbase } });
    expect(create({ wsUrl: 'https://ws-feed.exchange.coinbase.com' })).toThrow(/COINBASE_WS_URL/);
    expect(create({ wsUrl: 'not a url' })).toThrow(/COINBASE_WS_URL/);
    expect(create({ restUrl: 'ftp://api.exchange.coinbase.com' })).toThrow(/COINBASE_REST_URL/);
    expect(create({ staleSeconds: 0 })).toThrow(/^the Coinbase stale-stream timeout must be a positive number of seconds \(got 0\)$/); // not configurable: no variable named
    expect(create({ requestsPerMinute: -5 })).toThrow(/^the Coinbase request budget must be a positive number of requests per minute \(got -5\)$/);
    expect(create({ wsUrl: 'ws://127.0.0.1:1', restUrl: 'http://127.0.0.1:1', staleSeconds: 5, requestsPerMinute: 60 })).not.toThrow();
  });
});

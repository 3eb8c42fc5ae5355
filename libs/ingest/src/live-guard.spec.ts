import { describe, expect, it } from 'vitest';
import { liveEnvironmentProblems } from './live-guard.js';

describe('liveEnvironmentProblems', () => {
  it('names the sim source and every loopback provider URL', () => {
    const problems = liveEnvironmentProblems('CRYPTO_SOURCES', ['sim', 'binance', 'coinbase'], {
      BINANCE_WS_URL: 'ws://127.0.0.1:18443',
      BINANCE_REST_URL: 'https://api.binance.com',
      COINBASE_WS_URL: 'ws://localhost:9000',
      COINBASE_REST_URL: 'http://[::1]:9000',
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^CRYPTO_SOURCES: source "sim"/);
    expect(problems.slice(1).map((p) => p.split(':')[0])).toEqual(['BINANCE_WS_URL', 'COINBASE_WS_URL', 'COINBASE_REST_URL']);
  });

  it('also refuses the compose demo host and other spellings of this machine', () => {
    for (const url of ['http://fake-feeds:18446/v8/finance/chart', 'http://0.0.0.0:1', 'http://[::ffff:127.0.0.1]:1', 'http://localhost.:1']) {
      expect(liveEnvironmentProblems('STOCK_SOURCES', ['yahoo'], { YAHOO_CHART_URL: url }), url).toHaveLength(1);
    }
  });

  it('accepts real provider endpoints', () => {
    expect(liveEnvironmentProblems('STOCK_SOURCES', ['yahoo'], { YAHOO_CHART_URL: 'https://query1.finance.yahoo.com/v8/finance/chart' })).toEqual([]);
  });
});

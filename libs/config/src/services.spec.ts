import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configuredSources, DASHBOARD_ENV, SCHEDULER_ENV, SERVICES } from './services.js';

const KEY_ID = 'PKTEST0123456789';

describe('configuredSources', () => {
  it('resolves STOCK_SOURCES=auto from the Alpaca key id alone: alpaca with one, yahoo without', () => {
    expect(configuredSources('stock', { STOCK_SOURCES: ['auto'], ALPACA_KEY_ID: KEY_ID })).toEqual(['alpaca']);
    expect(configuredSources('stock', { STOCK_SOURCES: ['auto'] })).toEqual(['yahoo']);
    expect(configuredSources('stock', { STOCK_SOURCES: ['auto', 'alpaca', 'sim'], ALPACA_KEY_ID: KEY_ID })).toEqual(['alpaca', 'sim']);
    expect(configuredSources('crypto', { CRYPTO_SOURCES: ['binance', 'coinbase'] })).toEqual(['binance', 'coinbase']);
  });
});

describe('which service reads the Alpaca secret key', () => {
  it('only ingest-stock: the dashboard and scheduler resolve `auto` without it', () => {
    const readers = Object.entries(SERVICES).filter(([, s]) => (s.env as readonly string[]).includes('ALPACA_SECRET_KEY')).map(([name]) => name);
    expect(readers).toEqual(['ingest-stock']);
    const env = { ALPACA_KEY_ID: KEY_ID, ALPACA_SECRET_KEY: 'a-secret-that-must-stay-in-ingest-stock' };
    for (const names of [DASHBOARD_ENV, SCHEDULER_ENV]) {
      const config = loadConfig('test', names, env);
      expect(Object.keys(config)).not.toContain('ALPACA_SECRET_KEY');
      expect(JSON.stringify(config)).not.toContain('a-secret');
      // ...and list the same stock series ingest-stock runs.
      expect(configuredSources('stock', config)).toEqual(configuredSources('stock', loadConfig('ingest-stock', SERVICES['ingest-stock'].env, env)));
    }
  });
});

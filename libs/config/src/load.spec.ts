import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from './load.js';
import { maskUrl, maskUrlsInText } from './mask.js';

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = loadConfig('test', ['REDIS_URL', 'WRITER_CONCURRENCY', 'CRYPTO_SYMBOLS'], {});
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.WRITER_CONCURRENCY).toBe(32);
    expect(config.CRYPTO_SYMBOLS).toEqual(['BTC/USDT', 'ETH/USDT', 'SOL/USDT']);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats empty strings as unset, except for source lists where empty disables', () => {
    const config = loadConfig('test', ['WRITER_CONCURRENCY', 'CRYPTO_SOURCES', 'STOCK_SOURCES'], { WRITER_CONCURRENCY: '  ', CRYPTO_SOURCES: '' });
    expect(config.WRITER_CONCURRENCY).toBe(32);
    expect(config.CRYPTO_SOURCES).toEqual([]);
    expect(config.STOCK_SOURCES).toEqual(['auto']);
  });

  it('names every bad variable at once and masks secrets', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig('writer', ['DATABASE_URL', 'WRITER_CONCURRENCY', 'CRYPTO_SYMBOLS', 'CANDLE_RETENTION', 'LOG_LEVEL'], {
        DATABASE_URL: 'mysql://admin:hunter2@db/x',
        WRITER_CONCURRENCY: 'lots',
        CRYPTO_SYMBOLS: 'BTCUSDT,ETH/USDT',
        CANDLE_RETENTION: '2000,2m=5',
        LOG_LEVEL: 'loud',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.name)).toEqual(['DATABASE_URL', 'WRITER_CONCURRENCY', 'CRYPTO_SYMBOLS', 'CANDLE_RETENTION', 'LOG_LEVEL']);
    expect(error!.message).not.toContain('hunter2');
    expect(error!.message).toContain('mysql://admin:***@db/x');
    expect(error!.message).toContain('"BTCUSDT" is not a crypto symbol');
  });

  it('reports a required variable without default as missing', () => {
    // Every registered variable has a default today; HEALTH_PORT is the optional one.
    const config = loadConfig('test', ['HEALTH_PORT'], {});
    expect(config.HEALTH_PORT).toBeUndefined();
  });

  it('parses candle retention overrides', () => {
    const config = loadConfig('test', ['CANDLE_RETENTION'], { CANDLE_RETENTION: '500,1m=10080,1d=3650' });
    expect(config.CANDLE_RETENTION['1m']).toBe(10080);
    expect(config.CANDLE_RETENTION['5m']).toBe(500);
    expect(config.CANDLE_RETENTION['1d']).toBe(3650);
  });

  it('describes config with secrets masked', () => {
    const config = loadConfig('test', ['DATABASE_URL', 'REDIS_URL'], { DATABASE_URL: 'postgres://u:pw@h:5432/d', REDIS_URL: 'redis://:secret@r:6379' });
    const shown = JSON.stringify(describeConfig(config));
    expect(shown).not.toContain('pw@');
    expect(shown).not.toContain('secret');
  });
});

describe('masking', () => {
  it('masks URL passwords in URLs and in free text', () => {
    expect(maskUrl('postgres://u:p@h/db')).toBe('postgres://u:***@h/db');
    expect(maskUrl('not a url with secret')).toBe('***');
    expect(maskUrlsInText('connect failed for postgres://u:p4ss@h:5432/db (ECONNREFUSED)')).toBe('connect failed for postgres://u:***@h:5432/db (ECONNREFUSED)');
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV } from './env.js';
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

  it('quotes a bad value once: CANDLE_RETENTION=-5 read (got "-5") (got "-5")', () => {
    const problem = (name: keyof typeof ENV, value: string) => {
      try {
        loadConfig('test', [name], { [name]: value });
      } catch (error) {
        return (error as ConfigError).message.split('\n')[1];
      }
      return undefined;
    };
    expect(problem('CANDLE_RETENTION', '-5')).toBe('  - CANDLE_RETENTION: must start with a default count from 10 to 1051200 (got "-5")');
    // Every variable of the registry, with values that fail most parsers: the value is never quoted twice.
    for (const name of Object.keys(ENV) as (keyof typeof ENV)[]) {
      for (const value of ['-5', 'x', '1,1', 'ftp://h/x']) {
        const line = problem(name, value);
        expect(line?.split('(got ').length ?? 1, `${name}=${value}: ${line}`).toBeLessThanOrEqual(2);
      }
    }
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

describe('password files (DATABASE_PASSWORD_FILE, REDIS_PASSWORD_FILE)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tickvault-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('puts the password from the file into the URL, percent-encoded, wherever the URL is read', () => {
    const config = loadConfig('test', ['DATABASE_URL', 'REDIS_URL'], {
      DATABASE_URL: 'postgres://tickvault@postgres:5432/tickvault',
      DATABASE_PASSWORD_FILE: file('pg', 'Zx9_generated-0123456789abcdefghij\n'),
      REDIS_URL: 'redis://redis:6379',
      REDIS_PASSWORD_FILE: file('redis', 'p@ss:/w%rd"q'),
    });
    expect(config.DATABASE_URL).toBe('postgres://tickvault:Zx9_generated-0123456789abcdefghij@postgres:5432/tickvault');
    expect(config.REDIS_URL).toBe('redis://:p%40ss%3A%2Fw%25rd%22q@redis:6379');
    expect(decodeURIComponent(new URL(config.REDIS_URL).password)).toBe('p@ss:/w%rd"q');
    // The variable itself is not part of the result unless asked for, and logs stay masked.
    expect(Object.keys(config)).toEqual(['DATABASE_URL', 'REDIS_URL']);
    expect(JSON.stringify(describeConfig(config))).not.toMatch(/Zx9_|p%40ss/);
  });

  it('leaves the URL alone without the file variable (local runs, npm start)', () => {
    expect(loadConfig('test', ['REDIS_URL'], { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PASSWORD_FILE: '' }).REDIS_URL).toBe('redis://127.0.0.1:6379');
  });

  it('names the file variable when the file is missing or empty, or the URL already has a password; never prints it', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig('writer', ['DATABASE_URL', 'REDIS_URL'], {
        DATABASE_URL: 'postgres://u:inline-secret@db/x',
        DATABASE_PASSWORD_FILE: file('pg2', 'from-file-secret'),
        REDIS_PASSWORD_FILE: join(dir, 'missing'),
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems).toEqual([
      { name: 'DATABASE_PASSWORD_FILE', message: 'DATABASE_URL already carries a password: give it in one place' },
      { name: 'REDIS_PASSWORD_FILE', message: `cannot read ${join(dir, 'missing')} (ENOENT)` },
    ]);
    expect(error?.message).not.toMatch(/inline-secret|from-file-secret/);
    expect(() => loadConfig('test', ['REDIS_URL'], { REDIS_PASSWORD_FILE: file('empty', '\n') })).toThrow(/REDIS_PASSWORD_FILE: .* is empty/);
  });

  it('names only registered variables as password files', () => {
    for (const [name, spec] of Object.entries(ENV)) {
      const fileVar = (spec as { passwordFile?: string }).passwordFile;
      if (fileVar) expect(fileVar in ENV, `${name}: ${fileVar}`).toBe(true);
    }
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeHosts, formatConnectionUrl, parseConnectionUrl, withDatabase } from './connection-url.js';
import { describeConfig, loadConfig, type ConfigError } from './load.js';
import { maskUrl, maskUrlsInText } from './mask.js';

const MULTI = 'postgres://tv:s3cret@pg1:5432,pg2:5433,[::1]/tickvault?target_session_attrs=read-write';

describe('connection URLs with several hosts (failover)', () => {
  it('parses and formats them back unchanged', () => {
    const parsed = parseConnectionUrl(MULTI);
    expect(parsed).toEqual({
      protocol: 'postgres:', username: 'tv', password: 's3cret', database: 'tickvault', search: '?target_session_attrs=read-write',
      hosts: [{ host: 'pg1', port: '5432' }, { host: 'pg2', port: '5433' }, { host: '[::1]', port: undefined }],
    });
    expect(formatConnectionUrl(parsed!)).toBe(MULTI);
    expect(describeHosts(MULTI)).toBe('pg1:5432,pg2:5433,[::1]');
    expect(parseConnectionUrl('postgres://a@/db')).toBeUndefined();
    expect(parseConnectionUrl('not a url')).toBeUndefined();
  });

  it('masks the password, in the URL and in free text', () => {
    expect(maskUrl(MULTI)).toBe('postgres://tv:***@pg1:5432,pg2:5433,[::1]/tickvault?target_session_attrs=read-write');
    expect(maskUrlsInText(`connect to ${MULTI} failed`)).toBe('connect to postgres://tv:***@pg1:5432,pg2:5433,[::1]/tickvault?target_session_attrs=read-write failed');
  });

  it('changes the database keeping every host and the query (migrate, demo)', () => {
    expect(withDatabase(MULTI, 'postgres')).toBe('postgres://tv:s3cret@pg1:5432,pg2:5433,[::1]/postgres?target_session_attrs=read-write');
  });

  it('is accepted as DATABASE_URL only with target_session_attrs=read-write or primary, and masked in errors', () => {
    expect(loadConfig('writer', ['DATABASE_URL'], { DATABASE_URL: MULTI }).DATABASE_URL).toBe(MULTI);
    expect(loadConfig('writer', ['DATABASE_URL'], { DATABASE_URL: MULTI.replace('read-write', 'primary') }).DATABASE_URL).toContain('pg2:5433');
    let error: ConfigError | undefined;
    try {
      loadConfig('writer', ['DATABASE_URL', 'DASHBOARD_DATABASE_URL'], {
        DATABASE_URL: 'postgres://tv:s3cret@pg1:5432,pg2:5433/tickvault',
        DASHBOARD_DATABASE_URL: 'postgres://tv:s3cret@pg1:99999/tickvault?target_session_attrs=sometimes',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems.map((p) => p.name)).toEqual(['DATABASE_URL', 'DASHBOARD_DATABASE_URL']);
    expect(error?.message).toMatch(/DATABASE_URL: lists 2 hosts: add target_session_attrs=read-write .*got "postgres:\/\/tv:\*\*\*@pg1:5432,pg2:5433\/tickvault"/);
    expect(error?.message).toMatch(/port 99999 of pg1 is not a port.*target_session_attrs must be one of/);
    expect(error?.message).not.toContain('s3cret');
    // A reader may list several hosts without saying which kind: any of them serves reads.
    expect(loadConfig('dashboard', ['DASHBOARD_DATABASE_URL'], { DASHBOARD_DATABASE_URL: 'postgres://r@pg1,pg2/tickvault' }).DASHBOARD_DATABASE_URL).toBe('postgres://r@pg1,pg2/tickvault');
  });

  it('takes the password from DATABASE_PASSWORD_FILE into every host list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickvault-config-'));
    try {
      const file = join(dir, 'pg');
      writeFileSync(file, 'p@ss/word\n');
      const config = loadConfig('writer', ['DATABASE_URL'], { DATABASE_URL: 'postgres://tv@pg1:5432,pg2:5432/tickvault?target_session_attrs=read-write', DATABASE_PASSWORD_FILE: file });
      expect(config.DATABASE_URL).toBe('postgres://tv:p%40ss%2Fword@pg1:5432,pg2:5432/tickvault?target_session_attrs=read-write');
      expect(JSON.stringify(describeConfig(config))).not.toContain('p%40ss');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

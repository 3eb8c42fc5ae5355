import { describe, expect, it } from 'vitest';
import { isAuthorized, parseBasic, resolveAuth, secretEquals } from './auth.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const base = { DASHBOARD_AUTH: 'basic', DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: undefined, DASHBOARD_TOKEN: undefined } as const;

describe('resolveAuth', () => {
  it('names the missing variable for the chosen mode', () => {
    expect(resolveAuth(base)).toEqual({ problem: expect.objectContaining({ name: 'DASHBOARD_PASSWORD' }) });
    expect(resolveAuth({ ...base, DASHBOARD_AUTH: 'bearer', DASHBOARD_PASSWORD: 'a-password' })).toEqual({
      problem: expect.objectContaining({ name: 'DASHBOARD_TOKEN' }),
    });
  });

  it('needs nothing when authentication is off', () => {
    expect(resolveAuth({ ...base, DASHBOARD_AUTH: 'off' })).toEqual({ settings: { mode: 'off' } });
  });
});

describe('isAuthorized', () => {
  const settings = { mode: 'basic', user: 'admin', password: 'pa:ss word' } as const;

  it('accepts exactly the configured user and password (which may contain a colon)', () => {
    expect(isAuthorized(settings, basic('admin', 'pa:ss word'))).toBe(true);
    expect(isAuthorized(settings, basic('admin', 'pa:ss wor'))).toBe(false);
    expect(isAuthorized(settings, basic('Admin', 'pa:ss word'))).toBe(false);
    expect(isAuthorized(settings, undefined)).toBe(false);
    expect(isAuthorized(settings, 'Basic !!!')).toBe(false);
    expect(isAuthorized(settings, 'Bearer pa:ss word')).toBe(false);
  });

  it('checks bearer tokens', () => {
    const bearer = { mode: 'bearer', token: 'tok-1234567890abcdef' } as const;
    expect(isAuthorized(bearer, 'Bearer tok-1234567890abcdef')).toBe(true);
    expect(isAuthorized(bearer, 'bearer tok-1234567890abcdef')).toBe(true);
    expect(isAuthorized(bearer, 'Bearer tok-1234567890abcde')).toBe(false);
    expect(isAuthorized(bearer, basic('admin', 'tok-1234567890abcdef'))).toBe(false);
  });

  it('lets everything through when off', () => {
    expect(isAuthorized({ mode: 'off' }, undefined)).toBe(true);
  });
});

describe('helpers', () => {
  it('compares secrets of different lengths without throwing', () => {
    expect(secretEquals('a', 'a')).toBe(true);
    expect(secretEquals('a', 'ab')).toBe(false);
    expect(secretEquals('', 'x')).toBe(false);
  });

  it('parses basic credentials', () => {
    expect(parseBasic(basic('u', 'p:q'))).toEqual({ user: 'u', password: 'p:q' });
    expect(parseBasic(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeNull();
  });
});

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { isAuthorized, parseBasic, requireAuth, resolveAuth, secretEquals } from './auth.js';
import { LoginThrottle } from './login-throttle.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const dir = mkdtempSync(join(tmpdir(), 'tickvault-auth-'));
const base = { DASHBOARD_AUTH: 'basic', DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: undefined, DASHBOARD_PASSWORD_FILE: join(dir, 'unused'), DASHBOARD_TOKEN: undefined } as const;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveAuth', () => {
  it('names the missing variable for the chosen mode', () => {
    expect(resolveAuth({ ...base, DASHBOARD_AUTH: 'bearer', DASHBOARD_PASSWORD: 'a-long-password' })).toEqual({
      problem: expect.objectContaining({ name: 'DASHBOARD_TOKEN' }),
    });
  });

  it('needs nothing when authentication is off', () => {
    expect(resolveAuth({ ...base, DASHBOARD_AUTH: 'off' })).toEqual({ settings: { mode: 'off' } });
  });

  it('uses DASHBOARD_PASSWORD when set, and never touches the file then', () => {
    const file = join(dir, 'env-wins', 'password');
    expect(resolveAuth({ ...base, DASHBOARD_PASSWORD: 'set-in-the-env-1', DASHBOARD_PASSWORD_FILE: file })).toEqual({
      settings: { mode: 'basic', user: 'admin', password: 'set-in-the-env-1' },
      password: { from: 'env' },
    });
    expect(() => statSync(file)).toThrow(/ENOENT/);
  });

  it('generates a long random password into the file on first start (0600), then reads the same one', () => {
    const file = join(dir, 'first-start', 'nested', 'password');
    const first = resolveAuth({ ...base, DASHBOARD_PASSWORD_FILE: file });
    expect(first).toMatchObject({ settings: { mode: 'basic', user: 'admin' }, password: { from: 'file', path: file, generated: true } });
    const password = ('settings' in first && first.settings.mode === 'basic' && first.settings.password) || '';
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(file, 'utf8')).toBe(password);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = resolveAuth({ ...base, DASHBOARD_PASSWORD_FILE: file });
    expect(again).toEqual({ settings: { mode: 'basic', user: 'admin', password }, password: { from: 'file', path: file, generated: false } });
  });

  it('takes a password an operator put in the file (without its trailing newline), and refuses a short one', () => {
    const file = join(dir, 'operator');
    writeFileSync(file, 'operator-chosen-password\n');
    expect(resolveAuth({ ...base, DASHBOARD_PASSWORD_FILE: file })).toMatchObject({ settings: { password: 'operator-chosen-password' } });
    writeFileSync(file, 'short\n');
    expect(resolveAuth({ ...base, DASHBOARD_PASSWORD_FILE: file })).toEqual({
      problem: { name: 'DASHBOARD_PASSWORD_FILE', message: `the password in ${file} must be at least 12 characters` },
    });
  });

  it('names DASHBOARD_PASSWORD_FILE when the file can be neither read nor created', () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    const result = resolveAuth({ ...base, DASHBOARD_PASSWORD_FILE: join(blocker, 'password') });
    expect(result).toEqual({ problem: { name: 'DASHBOARD_PASSWORD_FILE', message: expect.stringMatching(/cannot read or create .*set DASHBOARD_PASSWORD/) } });
  });
});

describe('requireAuth with a login throttle (over HTTP)', () => {
  const settings = { mode: 'basic', user: 'admin', password: 'the-right-password' } as const;

  async function serve(throttle: LoginThrottle): Promise<{ url: string; close: () => Promise<void>; lockouts: number[] }> {
    const lockouts: number[] = [];
    const app = express();
    app.use(requireAuth(settings, throttle, (_client, ms) => lockouts.push(ms)));
    app.get('/', (_req, res) => void res.json({ ok: true }));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/`, lockouts, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  it('answers 429 with Retry-After once a client has used its free failures, even for the right password, until the lockout ends', async () => {
    let clock = 1_000_000;
    const throttle = new LoginThrottle({ freeFailures: 3, baseLockoutMs: 10_000, maxLockoutMs: 60_000, forgetAfterMs: 3_600_000, maxClients: 100 }, () => clock);
    const server = await serve(throttle);
    try {
      const attempt = (password?: string) => fetch(server.url, { headers: password === undefined ? {} : { authorization: basic('admin', password) } });
      // No credentials: the browser's first request, never counted.
      for (let i = 0; i < 5; i++) expect((await attempt()).status).toBe(401);
      expect((await attempt('wrong-1')).status).toBe(401);
      expect((await attempt('wrong-2')).status).toBe(401);
      expect((await attempt('wrong-3')).status).toBe(401);
      expect(server.lockouts).toEqual([10_000]);
      const locked = await attempt('the-right-password');
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).toBe('10');
      expect(locked.headers.get('www-authenticate')).toBeNull();
      expect(await locked.json()).toEqual({ error: 'too many failed logins from this address; try again in 10 s' });
      clock += 4_000;
      expect((await attempt('wrong-4')).headers.get('retry-after')).toBe('6');
      clock += 6_000;
      // The lockout is over; the next failure doubles it.
      expect((await attempt('wrong-5')).status).toBe(401);
      expect(server.lockouts).toEqual([10_000, 20_000]);
      clock += 20_000;
      expect((await attempt('the-right-password')).status).toBe(200);
      // Success forgets the client's failures.
      expect(throttle.stats()).toMatchObject({ clients: 0, refused: 2 });
    } finally {
      await server.close();
    }
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

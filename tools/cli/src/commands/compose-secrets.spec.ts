import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@tickvault/config';
import { eventually, freePort } from '@tickvault/testing';
import { runCli } from '../testing/run-cli.js';
import { redisAuthConf, secretsLayout } from './compose-secrets.js';

const root = mkdtempSync(join(tmpdir(), 'tickvault-compose-secrets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const NOT_SET = { POSTGRES_PASSWORD: '', REDIS_PASSWORD: '' };

describe('tickvault compose-secrets', () => {
  it('first run generates both passwords (0600) and redis.conf; later runs keep them; no password is printed', async () => {
    const dir = join(root, 'first');
    const first = await runCli(['compose-secrets', '--dir', dir], NOT_SET);
    expect(first).toMatchObject({ code: 0, stdout: 'postgres-password: generated\nredis-password: generated\nredis.conf: written\n' });
    const files = secretsLayout(dir);
    const postgres = readFileSync(files.postgresPassword, 'utf8');
    const redis = readFileSync(files.redisPassword, 'utf8');
    expect(postgres).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(redis).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(redis).not.toBe(postgres);
    for (const path of Object.values(files)) expect(statSync(path).mode & 0o777, path).toBe(0o600);
    expect(readFileSync(files.redisConf, 'utf8')).toContain(`requirepass "${redis}"`);

    const again = await runCli(['compose-secrets', '--dir', dir], NOT_SET);
    expect(again.stdout).toBe('postgres-password: kept\nredis-password: kept\nredis.conf: written\n');
    expect(readFileSync(files.postgresPassword, 'utf8')).toBe(postgres);
    expect(readFileSync(files.redisPassword, 'utf8')).toBe(redis);
    expect(first.stdout + first.stderr + again.stdout + again.stderr).not.toMatch(new RegExp(`${postgres}|${redis}`));
  });

  it('takes POSTGRES_PASSWORD and REDIS_PASSWORD from .env when set, and calls a short one weak', async () => {
    const dir = join(root, 'from-env');
    await runCli(['compose-secrets', '--dir', dir], NOT_SET);
    const result = await runCli(['compose-secrets', '--dir', dir], { POSTGRES_PASSWORD: 'tickvault', REDIS_PASSWORD: 'chosen-in-dotenv-0123' });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'postgres-password: from .env\nredis-password: from .env\nredis.conf: written\n' +
        'warning: POSTGRES_PASSWORD is shorter than 12 characters; unset it to have a random one generated\n',
    );
    const files = secretsLayout(dir);
    expect(readFileSync(files.postgresPassword, 'utf8')).toBe('tickvault');
    expect(readFileSync(files.redisConf, 'utf8')).toContain('requirepass "chosen-in-dotenv-0123"');
  });

  it('refuses a password with spaces and a non-numeric uid, exit 1 and 2', async () => {
    const spaced = await runCli(['compose-secrets', '--dir', join(root, 'bad')], { POSTGRES_PASSWORD: 'has a space', REDIS_PASSWORD: '' });
    expect(spaced.code).toBe(1);
    expect(spaced.stderr).toContain('POSTGRES_PASSWORD: must be printable ASCII without spaces');
    expect(spaced.stderr).not.toContain('has a space');
    expect((await runCli(['compose-secrets', '--dir', join(root, 'bad'), '--app-uid', 'node'], NOT_SET)).code).toBe(2);
    expect((await runCli(['compose-secrets'], NOT_SET)).code).toBe(2);
  });

  it('escapes quotes and backslashes for Redis: a real redis-server with --include requires exactly that password', async () => {
    const dir = join(root, 'redis');
    const password = 'we"ird\\pa$s:/@%';
    expect(redisAuthConf(password)).toContain('requirepass "we\\"ird\\\\pa$s:/@%"');
    expect((await runCli(['compose-secrets', '--dir', dir], { POSTGRES_PASSWORD: '', REDIS_PASSWORD: password })).code).toBe(0);
    const files = secretsLayout(dir);
    const port = await freePort();
    // As compose runs it: the generated file included, AUTH required from then on.
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--include', files.redisConf], { stdio: 'ignore' });
    const clients: Redis[] = [];
    const client = (url: string) => {
      // No ready check: its INFO would fail with NOAUTH before the test gets to ask.
      const redis = new Redis(url, { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on('error', () => {});
      clients.push(redis);
      return redis;
    };
    try {
      const bare = `redis://127.0.0.1:${port}`;
      const anonymous = await eventually(async () => {
        const redis = client(bare);
        await redis.connect();
        return redis;
      }, 'redis-server listening', 15_000, 50);
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
      // What every compose service does: REDIS_URL without a password plus REDIS_PASSWORD_FILE.
      const config = loadConfig('test', ['REDIS_URL'], { REDIS_URL: bare, REDIS_PASSWORD_FILE: files.redisPassword });
      const authed = client(config.REDIS_URL);
      await authed.connect();
      expect(await authed.ping()).toBe('PONG');
    } finally {
      for (const c of clients) c.disconnect();
      server.kill('SIGKILL');
    }
  });
});


import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, createTestRedis, startPrivateRedis, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { migrate } from '@tickvault/db';
import { readRedisMemory, ServiceRegistration, type ServiceDetails, type SourceStatus } from '@tickvault/queue';
import { doctorLines, runCli } from '../testing/run-cli.js';

const CHECKS = ['Config valid', 'Redis reachable', 'Redis noeviction', 'Redis AOF', 'Redis memory', 'Services', 'Postgres reachable', 'Schema current', 'Postgres write/read'];

describe('tickvault doctor', () => {
  let db: TestDatabase;
  let bare: TestDatabase;
  let redis: TestRedis;
  let env: Record<string, string>;

  beforeAll(async () => {
    [db, bare, redis] = await Promise.all([createTestDatabase(migrate), createTestDatabase(), createTestRedis()]);
    env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix };
  });
  afterAll(async () => {
    await Promise.all([db?.drop(), bare?.drop(), redis?.cleanup()]);
  });

  it('passes every check against the test services, in order, and leaves no row behind', async () => {
    const result = await runCli(['doctor'], env);
    const lines = doctorLines(result.stdout);
    expect([...lines.keys()], result.stdout).toEqual(CHECKS);
    for (const name of CHECKS) {
      // The test Redis may run without AOF or maxmemory, which doctor reports as warnings, never as failures.
      const mayWarn = name === 'Redis AOF' || name === 'Redis memory';
      expect(lines.get(name)?.status, `${name}: ${result.stdout}`).toEqual(mayWarn ? expect.stringMatching(/^(ok|warn)$/) : 'ok');
    }
    expect(result.code).toBe(0);
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from system_events`;
    expect(row!.n).toBe(0);
  });

  it('names the failing Postgres check, masks the password and exits 1 when Postgres is unreachable', async () => {
    const result = await runCli(['doctor'], { ...env, DATABASE_URL: 'postgres://tv_user:Sup3rSecretPw@127.0.0.1:1/tickvault' });
    const lines = doctorLines(result.stdout);
    expect(result.code).toBe(1);
    expect(lines.get('Postgres reachable')?.status, result.stdout).toBe('FAIL');
    expect(lines.get('Postgres reachable')?.detail).toMatch(/ECONNREFUSED.*postgres:\/\/tv_user:\*\*\*@127\.0\.0\.1:1\/tickvault/);
    expect(lines.get('Schema current')).toEqual({ status: 'skip', detail: 'Postgres unreachable' });
    expect(lines.get('Postgres write/read')).toEqual({ status: 'skip', detail: 'Postgres unreachable' });
    expect(lines.get('Redis reachable')?.status).toBe('ok');
    expect(result.stdout + result.stderr).not.toContain('Sup3rSecretPw');
  });

  it('names the failing Redis check when Redis is unreachable', async () => {
    const result = await runCli(['doctor'], { ...env, REDIS_URL: 'redis://:R3disSecret@127.0.0.1:1' });
    const lines = doctorLines(result.stdout);
    expect(result.code).toBe(1);
    expect(lines.get('Redis reachable')?.status, result.stdout).toBe('FAIL');
    expect(lines.get('Redis reachable')?.detail).toMatch(/ECONNREFUSED/);
    expect(lines.get('Redis noeviction')).toEqual({ status: 'skip', detail: 'Redis unreachable' });
    expect(lines.get('Redis memory')).toEqual({ status: 'skip', detail: 'Redis unreachable' });
    expect(lines.get('Services')).toEqual({ status: 'skip', detail: 'Redis unreachable' });
    expect(lines.get('Postgres write/read')?.status).toBe('ok');
    expect(result.stdout + result.stderr).not.toContain('R3disSecret');
  });

  it('Services: what runs against this Redis, from the service registry; a source out of reach or ingest without a writer warns, never fails', async () => {
    const services = async () => {
      const result = await runCli(['doctor'], env);
      return { code: result.code, line: doctorLines(result.stdout).get('Services') };
    };
    expect(await services()).toEqual({ code: 0, line: { status: 'ok', detail: `none registered under ${redis.prefix}: nothing runs against this Redis yet` } });

    const fiveMinutesAgo = new Date(Date.now() - 5 * 60_000).toISOString();
    let alpaca: SourceStatus = { source: 'alpaca', state: 'reconnecting', since: fiveMinutesAgo, reason: 'auth-failed: not authorized', lastMessageAt: null, symbols: ['AAPL'] };
    const register = (service: string, details: () => ServiceDetails) =>
      new ServiceRegistration({ redis: redis.redis, prefix: redis.prefix, service, logger: { info: () => {}, warn: () => {} }, describe: details });
    const ingest = register('ingest-stock', () => ({
      environment: 'test', queues: [{ name: 'backfill-alpaca', prefix: redis.prefix, role: 'consumes' }],
      ingest: { assetClass: 'stock', symbols: ['AAPL'], shards: 1, sources: [alpaca] },
    }));
    const writer = register('writer', () => ({ environment: 'test', queues: [], writer: { shards: [0] } }));
    try {
      await ingest.start();
      const alone = await services();
      expect(alone.code).toBe(0);
      expect(alone.line?.status).toBe('warn');
      expect(alone.line?.detail).toMatch(/^ingest-stock@\S+ \(pid \d+\): alpaca reconnecting for 5m \d\ds, 1 symbol, auth-failed: not authorized; /);
      expect(alone.line?.detail).toContain('no writer is');

      await writer.start();
      alpaca = { ...alpaca, state: 'connected', since: new Date().toISOString(), reason: null };
      await ingest.refresh();
      const healthy = await services();
      expect(healthy.line).toEqual({ status: 'ok', detail: expect.stringMatching(/^2 running: ingest-stock@\S+ \(alpaca connected, 1 symbol\); writer@\S+ \(tick shard 0\)$/) });
    } finally {
      await Promise.all([ingest.stop(), writer.stop()]);
    }
  });

  it('fails the schema check on an unmigrated database and says how to fix it', async () => {
    const result = await runCli(['doctor'], { ...env, DATABASE_URL: bare.url });
    const lines = doctorLines(result.stdout);
    expect(result.code).toBe(1);
    expect(lines.get('Postgres reachable')?.status).toBe('ok');
    expect(lines.get('Schema current')?.status, result.stdout).toBe('FAIL');
    expect(lines.get('Schema current')?.detail).toContain('npm run tickvault -- migrate');
    expect(lines.get('Postgres write/read')?.status).toBe('skip');
  });

  it('reports every configuration problem with secrets masked', async () => {
    const result = await runCli(['doctor'], { ...env, DATABASE_URL: 'mysql://root:hunter2@db/x', QUEUE_PREFIX: 'no-braces' });
    const lines = doctorLines(result.stdout);
    expect(result.code).toBe(1);
    const config = lines.get('Config valid');
    expect(config?.status).toBe('FAIL');
    expect(config?.detail).toContain('DATABASE_URL');
    expect(config?.detail).toContain('QUEUE_PREFIX');
    expect(lines.get('Postgres reachable')).toEqual({ status: 'skip', detail: 'DATABASE_URL is invalid' });
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('--json: the same checks in one document, status lowercase, ok false and exit 1 when one fails', async () => {
    const passing = await runCli(['doctor', '--json'], env);
    const text = doctorLines((await runCli(['doctor'], env)).stdout);
    const document = JSON.parse(passing.stdout) as { ok: boolean; checks: { name: string; status: string; detail: string }[] };
    expect(passing.code, passing.stdout + passing.stderr).toBe(0);
    expect(document.ok).toBe(true);
    expect(document.checks.map((c) => c.name)).toEqual(CHECKS);
    for (const check of document.checks) {
      expect(check.status, check.name).toBe(text.get(check.name)?.status);
      // Details carry figures that move between runs (memory used); the fixed ones match the text.
      if (!check.name.startsWith('Redis memory')) expect(check.detail, check.name).toBe(text.get(check.name)?.detail);
    }

    const failing = await runCli(['doctor', '--json'], { ...env, REDIS_URL: 'redis://:R3disSecret@127.0.0.1:1' });
    const failed = JSON.parse(failing.stdout) as typeof document;
    expect(failing.code).toBe(1);
    expect(failed.ok).toBe(false);
    expect(failed.checks.find((c) => c.name === 'Redis reachable')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/ECONNREFUSED/) });
    expect(failed.checks.find((c) => c.name === 'Redis noeviction')).toEqual({ name: 'Redis noeviction', status: 'skip', detail: 'Redis unreachable' });
    expect(failing.stdout + failing.stderr).not.toContain('R3disSecret');
  });

  it('shows Redis memory against maxmemory: ok under 80%, a warning above, a failure when Redis refuses writes', async () => {
    const server = await startPrivateRedis();
    try {
      const run = async () => doctorLines((await runCli(['doctor'], { ...env, REDIS_URL: server.url })).stdout).get('Redis memory');
      expect(await run()).toEqual({ status: 'warn', detail: expect.stringMatching(/^Redis has no maxmemory/) });
      const limitAt = async (ratio: number) => {
        const { usedBytes } = await readRedisMemory(server.admin);
        await server.admin.config('SET', 'maxmemory', String(Math.round(usedBytes / ratio)));
      };
      await limitAt(0.5);
      expect(await run()).toEqual({ status: 'ok', detail: expect.stringMatching(/^\d+ MiB used of \d+ MiB maxmemory \((4|5)\d%\)$/) });
      await limitAt(0.9);
      expect(await run()).toEqual({ status: 'warn', detail: expect.stringMatching(/^Redis memory is high/) });
      await limitAt(2);
      const full = await runCli(['doctor'], { ...env, REDIS_URL: server.url });
      expect(doctorLines(full.stdout).get('Redis memory')).toEqual({ status: 'FAIL', detail: expect.stringMatching(/^Redis is full .* refuses new jobs/) });
      expect(full.code).toBe(1);
    } finally {
      await server.stop();
    }
  });
});

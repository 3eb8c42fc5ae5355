import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@tickvault/db';
import { createTestDatabase, createTestRedis, repoPath, ServiceProcess, type TestDatabase, type TestRedis } from '@tickvault/testing';

const DASHBOARD = repoPath('apps/dashboard/src/main.ts');

describe('dashboard startup refusals', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let holder: net.Server;
  let taken: number;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    taken = (holder.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => holder?.close(resolve));
    await redis?.cleanup();
    await db?.drop();
  });

  const env = () => ({
    DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix,
    DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PASSWORD: 'startup-test-password-1',
  });

  it('exits 1 with one line naming DASHBOARD_PORT when the port is taken, no stack trace', async () => {
    const dashboard = new ServiceProcess(DASHBOARD, { ...env(), HEALTH_PORT: '0', DASHBOARD_PORT: String(taken) });
    const { code } = await dashboard.exited;
    expect(code).toBe(1);
    expect(dashboard.notJson).toEqual([]);
    expect(dashboard.lines.filter((l) => (l.level ?? 0) >= 50)).toMatchObject([
      { level: 60, msg: 'cannot start', err: `DASHBOARD_PORT=${taken}: port ${taken} on 127.0.0.1 is already in use (EADDRINUSE); set DASHBOARD_PORT to a free port (0 picks one)` },
    ]);
  });

  it('exits 1 with one line naming HEALTH_PORT when its health port is taken', async () => {
    const dashboard = new ServiceProcess(DASHBOARD, { ...env(), HEALTH_HOST: '127.0.0.1', HEALTH_PORT: String(taken), DASHBOARD_PORT: '0' });
    const { code } = await dashboard.exited;
    expect(code).toBe(1);
    expect(dashboard.notJson).toEqual([]);
    expect(dashboard.lines.filter((l) => (l.level ?? 0) >= 50)).toMatchObject([
      { level: 60, msg: 'cannot start', err: `HEALTH_PORT=${taken}: port ${taken} on 127.0.0.1 is already in use (EADDRINUSE); set HEALTH_PORT to a free port (0 picks one)` },
    ]);
  });
});

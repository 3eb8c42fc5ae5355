import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@tickvault/db';
import { createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, TcpProxy, type TestDatabase, type TestRedis } from '@tickvault/testing';

// Every service, not only the writer: each holds its own queue handles and Redis connections, and any
// one without an `error` listener makes BullMQ or ioredis print raw stack traces with console.error.
const SERVICES = [
  { name: 'writer', entry: 'apps/writer/src/main.ts' },
  { name: 'scheduler', entry: 'apps/scheduler/src/main.ts' },
  { name: 'dashboard', entry: 'apps/dashboard/src/main.ts' },
  { name: 'ingest-crypto', entry: 'apps/ingest-crypto/src/main.ts' },
] as const;

async function readyz(port: number): Promise<number> {
  return fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
}

describe('logs during a Redis outage', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let proxy: TcpProxy;
  const running: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    proxy = TcpProxy.forUrl(redis.url);
    await proxy.start();
  });
  afterAll(async () => {
    await Promise.all(running.map((service) => service.stop()));
    await proxy?.cut();
    await redis?.cleanup();
    await db?.drop();
  });

  it('are JSON, every line of every service, while Redis goes away and comes back', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: proxy.rewrite(redis.url),
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      DASHBOARD_PORT: '0',
      DASHBOARD_HOST: '127.0.0.1',
      DASHBOARD_PASSWORD: 'outage-test-password-1',
      CRYPTO_SOURCES: 'sim',
      STOCK_SOURCES: 'sim',
      MACRO_SOURCES: 'sim',
    };
    const services = SERVICES.map(({ name, entry }) => ({ name, process: new ServiceProcess(repoPath(entry), env) }));
    running.push(...services.map((s) => s.process));
    const healthPorts = new Map<string, number>();
    for (const { name, process } of services) {
      const started = await process.waitForLog((l) => l.msg === `${name} started`, 90_000);
      healthPorts.set(name, started.healthPort as number);
    }
    for (const [name, port] of healthPorts) await eventually(async () => (await readyz(port)) === 200, `${name} ready`, 60_000);

    await proxy.cut();
    // Every service has seen the outage (its connections errored, so every handle on them did too).
    for (const [name, port] of healthPorts) await eventually(async () => (await readyz(port)) === 503, `${name} not ready without Redis`, 60_000);
    // A few reconnect attempts refused, not only the reset of the open connections.
    const writer = services[0]!.process;
    const refusedBefore = writer.lines.length;
    await eventually(() => writer.lines.slice(refusedBefore).some((l) => String(l.err).includes('ECONNREFUSED')), 'the writer refused a reconnect', 60_000);

    await proxy.restore();
    for (const [name, port] of healthPorts) await eventually(async () => (await readyz(port)) === 200, `${name} ready again`, 90_000);

    for (const { process } of services) expect((await process.stop()).code).toBe(0);
    for (const { name, process } of services) {
      expect(process.notJson, `${name} wrote lines that are not JSON`).toEqual([]);
      expect(process.lines.length, name).toBeGreaterThan(0);
    }
  });
});

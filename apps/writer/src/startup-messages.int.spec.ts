import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@tickvault/db';
import { createTestDatabase, createTestRedis, repoPath, ServiceProcess, startPrivateRedis, type TestDatabase, type TestRedis } from '@tickvault/testing';

const WRITER = repoPath('apps/writer/src/main.ts');

// What the writer says when it cannot start, and that it says nothing alarming when it can.
describe('writer startup messages', () => {
  let db: TestDatabase;
  let redis: TestRedis;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
  });
  afterAll(async () => {
    await redis?.cleanup();
    await db?.drop();
  });

  it('logs no warning on a healthy start (no "Stream isn\'t writeable" while Redis connects)', async () => {
    // A Redis of its own configured as shipped (maxmemory set): the shared one has none, which is worth a warning.
    const healthy = await startPrivateRedis({ maxmemory: '64mb' });
    const writer = new ServiceProcess(WRITER, { DATABASE_URL: db.url, REDIS_URL: healthy.url, HEALTH_PORT: '0' });
    try {
      await writer.waitForLog((l) => l.msg === 'writer started');
      expect(writer.lines.filter((l) => (l.level ?? 0) >= 40)).toEqual([]);
    } finally {
      expect((await writer.stop()).code).toBe(0);
      await healthy.stop();
    }
  });

  it('names the Redis URL, password masked, while it waits for Redis and when it gives up', async () => {
    const writer = new ServiceProcess(WRITER, {
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://:RdSecret9@127.0.0.1:1',
      STARTUP_WAIT_SECONDS: '2',
      HEALTH_PORT: '0',
    });
    const { code } = await writer.exited;
    expect(code).toBe(1);
    const waiting = writer.lines.filter((l) => l.level === 40);
    expect(waiting.length).toBeGreaterThanOrEqual(1);
    for (const line of waiting) expect(line.msg).toBe('Redis at redis://:***@127.0.0.1:1 not reachable yet (ECONNREFUSED)');
    expect(writer.lines.find((l) => l.msg === 'cannot start')?.err).toMatch(/^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 is unreachable after \d+ attempts: connect ECONNREFUSED/);
    expect(writer.output.join('\n')).not.toContain('RdSecret9');
  });

  it('stops at once on a database that does not exist, saying to run migrate (which creates it)', async () => {
    const missing = new URL(db.url);
    missing.pathname = `/${db.name}_missing`;
    missing.password = 'PgSecret9';
    const writer = new ServiceProcess(WRITER, { DATABASE_URL: missing.toString(), REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0' });
    const { code } = await writer.exited;
    expect(code).toBe(1);
    // Not retried: the first answer settles it.
    expect(writer.lines.filter((l) => l.level === 40)).toEqual([]);
    missing.password = '***';
    expect(writer.lines.find((l) => l.msg === 'cannot start')?.err).toBe(
      `Postgres at ${missing.toString()}: database "${db.name}_missing" does not exist (3D000): run \`npm run tickvault -- migrate\`, which creates it`,
    );
    expect(writer.output.join('\n')).not.toContain('PgSecret9');
  });

  it('exits 1 with one JSON line naming HEALTH_PORT when its health port is taken, before connecting anywhere', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '0.0.0.0', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      // Postgres and Redis are unreachable: the port is checked first, so the answer comes without waiting for them.
      const writer = new ServiceProcess(WRITER, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1', HEALTH_PORT: String(port) });
      const { code } = await writer.exited;
      expect(code).toBe(1);
      // No stack trace, no second line.
      expect(writer.output).toHaveLength(1);
      expect(writer.lines).toMatchObject([
        { level: 60, msg: 'cannot start', err: `HEALTH_PORT=${port}: port ${port} on 0.0.0.0 is already in use (EADDRINUSE); set HEALTH_PORT to a free port (0 picks one)` },
      ]);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

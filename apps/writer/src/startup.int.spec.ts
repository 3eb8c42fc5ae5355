import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPECTED_SCHEMA_VERSION } from '@tickvault/db';
import { createTestDatabase, createTestRedis, repoPath, ServiceProcess, type TestDatabase, type TestRedis } from '@tickvault/testing';

const WRITER = repoPath('apps/writer/src/main.ts');

describe('writer startup refusals', () => {
  let unmigrated: TestDatabase;
  let redis: TestRedis;

  beforeAll(async () => {
    unmigrated = await createTestDatabase();
    redis = await createTestRedis();
  });
  afterAll(async () => {
    await redis?.cleanup();
    await unmigrated?.drop();
  });

  it('exits 1 naming every bad variable, with the password masked', async () => {
    const writer = new ServiceProcess(WRITER, {
      DATABASE_URL: 'mysql://admin:s3cr3t-pw@db/x',
      WRITER_CONCURRENCY: 'many',
      CANDLE_RETENTION: '1m=5',
      REDIS_URL: redis.url,
    });
    const { code } = await writer.exited;
    const output = writer.output.join('\n');
    expect(code).toBe(1);
    expect(output).toContain('Invalid configuration for writer: 3 problems');
    for (const name of ['DATABASE_URL', 'WRITER_CONCURRENCY', 'CANDLE_RETENTION']) expect(output).toContain(`${name}:`);
    expect(output).not.toContain('s3cr3t-pw');
  });

  it('refuses to run against an unmigrated database, saying how to fix it', async () => {
    const writer = new ServiceProcess(WRITER, { DATABASE_URL: unmigrated.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0' });
    const { code } = await writer.exited;
    expect(code).toBe(1);
    expect(writer.output.join('\n')).toContain(`schema is at version 0, this build needs ${EXPECTED_SCHEMA_VERSION}: run \`npm run tickvault -- migrate\``);
  });

  it('waits for Postgres with logged backoff, then gives up with a clear message', async () => {
    const writer = new ServiceProcess(WRITER, {
      DATABASE_URL: 'postgres://postgres:pw@127.0.0.1:1/none',
      REDIS_URL: redis.url,
      STARTUP_WAIT_SECONDS: '2',
      HEALTH_PORT: '0',
    });
    const { code } = await writer.exited;
    expect(code).toBe(1);
    expect(writer.lines.filter((l) => l.msg === 'waiting for Postgres').length).toBeGreaterThanOrEqual(2);
    expect(writer.lines.find((l) => l.msg === 'cannot start')?.err).toMatch(/Postgres is unreachable after \d+ attempts/);
    expect(writer.output.join('\n')).not.toContain(':pw@');
  });
});

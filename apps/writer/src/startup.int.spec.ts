import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { EXPECTED_SCHEMA_VERSION, migrate, recordedDataEnvironment, setDataEnvironment } from '@tickvault/db';
import { JOB_NAMES, QUEUE_NAMES, type TickBatchJob } from '@tickvault/schema';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, ServiceProcess, syntheticTicks, toJobs, type TestDatabase, type TestRedis,
} from '@tickvault/testing';

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
    const waiting = writer.lines.filter((l) => l.level === 40);
    expect(waiting.length).toBeGreaterThanOrEqual(2);
    for (const line of waiting) expect(line.msg).toBe('Postgres at postgres://postgres:***@127.0.0.1:1/none not reachable yet (ECONNREFUSED)');
    expect(writer.lines.find((l) => l.msg === 'cannot start')?.err).toMatch(/^Postgres at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none is unreachable after \d+ attempts/);
    expect(writer.output.join('\n')).not.toContain(':pw@');
  });

  it('records the data environment with the first stored row: an empty database takes the next environment, one with data refuses another', async () => {
    const db = await createTestDatabase(migrate);
    const queue = new Queue<TickBatchJob>(QUEUE_NAMES.ticks, { connection: { url: redis.url }, prefix: redis.prefix });
    const writer = (environment: string) =>
      new ServiceProcess(WRITER, { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0', DATA_ENVIRONMENT: environment });
    try {
      // An offline live run that stores nothing leaves no label behind.
      const live = writer('live');
      await live.waitForLog((l) => l.msg === 'writer started');
      expect((await live.stop()).code).toBe(0);
      expect(await recordedDataEnvironment(db.sql)).toBeNull();

      // Earlier versions labelled the database at startup: such an empty database takes the next environment too.
      await setDataEnvironment(db.sql, 'live', 'writer@earlier-version');
      const demo = writer('demo');
      await demo.waitForLog((l) => l.msg === 'writer started');
      expect(demo.output.join('\n')).toContain('the database is labelled live but holds no market data: its first stored row relabels it demo');
      expect(await recordedDataEnvironment(db.sql)).toBe('live');
      const job = toJobs(syntheticTicks({ count: 5, symbols: ['BTC/USDT'], startMs: Date.now() - 60_000 }), 5, 'ingest-crypto@demo')[0]!;
      await queue.add(JOB_NAMES.tickBatch, { ...job, env: 'demo' });
      await eventually(async () => (await db.sql`select count(*)::int as n from ticks`)[0]!.n === 5, 'the demo trades stored');
      expect(await recordedDataEnvironment(db.sql)).toBe('demo');
      expect((await demo.stop()).code).toBe(0);

      // Once data is stored, another environment is refused, as before.
      const refused = writer('live');
      expect((await refused.exited).code).toBe(1);
      expect(refused.lines.find((l) => l.msg === 'cannot start')?.err).toContain('this database holds demo data, but DATA_ENVIRONMENT=live: refusing to mix them');
      expect(await recordedDataEnvironment(db.sql)).toBe('demo');
    } finally {
      await queue.close();
      await db.drop();
    }
  });
});

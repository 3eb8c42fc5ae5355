import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import postgres from 'postgres';

type Sql = postgres.Sql;

function requireService(url: string | null, name: string): string {
  const reason = inject('servicesUnavailable');
  if (!url) throw new Error(reason ?? `${name} for tests is not configured`);
  return url;
}

export function testDatabaseBaseUrl(): string {
  return requireService(inject('testDatabaseUrl'), 'PostgreSQL');
}

export function testRedisUrl(): string {
  return requireService(inject('testRedisUrl'), 'Redis');
}

export interface TestDatabase {
  url: string;
  name: string;
  sql: Sql;
  drop(): Promise<void>;
}

/**
 * A fresh database of its own for one test file, dropped afterwards. `prepare` (usually the db lib's
 * `migrate`) runs first; it is passed in so this helper does not depend on the code under test.
 */
export async function createTestDatabase(prepare?: (url: string) => Promise<unknown>): Promise<TestDatabase> {
  const base = testDatabaseBaseUrl();
  const name = `tv_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin`create database ${admin(name)}`;
  if (prepare) await prepare(url.toString());
  const sql = postgres(url.toString(), { max: 4, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
  return {
    url: url.toString(),
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end({ timeout: 5 });
    },
  };
}

export interface TestRedis {
  url: string;
  prefix: string;
  redis: Redis;
  cleanup(): Promise<void>;
}

/** A queue prefix of its own for one test file; every key under it is deleted afterwards. */
export async function createTestRedis(): Promise<TestRedis> {
  const url = testRedisUrl();
  const prefix = `{tvtest-${randomBytes(5).toString('hex')}}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  return {
    url,
    prefix,
    redis,
    async cleanup() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

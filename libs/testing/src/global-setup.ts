import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabaseUrl: string | null;
    testRedisUrl: string | null;
    servicesUnavailable: string | null;
  }
}

type Stop = () => Promise<unknown>;

/**
 * Finds Postgres and Redis for the integration tests once per run: TEST_DATABASE_URL and
 * TEST_REDIS_URL when set, else containers started by testcontainers. When neither works the
 * reason is handed to the tests, which then fail with it: they never pass without real services.
 */
export default async function setup(project: TestProject): Promise<Stop> {
  const stops: Stop[] = [];
  let databaseUrl = process.env.TEST_DATABASE_URL || null;
  let redisUrl = process.env.TEST_REDIS_URL || null;
  let unavailable: string | null = null;
  if (!databaseUrl || !redisUrl) {
    try {
      if (!databaseUrl) {
        const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
        const pg = await new PostgreSqlContainer('postgres:16-alpine').start();
        stops.push(() => pg.stop());
        databaseUrl = pg.getConnectionUri();
      }
      if (!redisUrl) {
        const { RedisContainer } = await import('@testcontainers/redis');
        const redis = await new RedisContainer('redis:7-alpine').withCommand(['redis-server', '--maxmemory-policy', 'noeviction']).start();
        stops.push(() => redis.stop());
        redisUrl = redis.getConnectionUrl();
      }
    } catch (error) {
      unavailable =
        'Integration tests need PostgreSQL and Redis. Set TEST_DATABASE_URL and TEST_REDIS_URL ' +
        '(e.g. postgres://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379), or run a Docker engine ' +
        `for testcontainers. Starting containers failed: ${(error as Error).message}`;
    }
  }
  project.provide('testDatabaseUrl', databaseUrl);
  project.provide('testRedisUrl', redisUrl);
  project.provide('servicesUnavailable', unavailable);
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}

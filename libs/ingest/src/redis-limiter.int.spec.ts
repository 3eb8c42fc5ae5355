import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createTestRedis, type TestRedis } from '@tickvault/testing';
import { RedisTokenBucket } from './redis-limiter.js';

describe('RedisTokenBucket (shared by replicas)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await createTestRedis();
  });
  afterAll(async () => {
    await redis?.cleanup();
  });

  const bucket = (key: string, perMinute: number) =>
    new RedisTokenBucket(redis.redis, { prefix: redis.prefix, key, perMinute, reserve: 0, logger: pino({ level: 'silent' }) });

  it('two replicas together spend one budget', async () => {
    // 600/min = 10 per second: 40 units beyond the initial 600 need about 4 s whichever replica asks.
    const a = bucket('shared', 600);
    const b = bucket('shared', 600);
    const started = Date.now();
    let granted = 0;
    const spend = async (limiter: RedisTokenBucket) => {
      for (let i = 0; i < 32; i++) {
        await limiter.acquire(10);
        granted += 10;
      }
    };
    await Promise.all([spend(a), spend(b)]);
    expect(granted).toBe(640);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  });

  it('a pause seen by one replica holds the others', async () => {
    const a = bucket('paused', 6000);
    const b = bucket('paused', 6000);
    a.pauseUntil(Date.now() + 1500);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await b.acquire(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
  });

  it('the server-reported weight drains the shared bucket', async () => {
    const a = bucket('reported', 600);
    a.reportUsed(600);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await bucket('reported', 600).acquire(5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});

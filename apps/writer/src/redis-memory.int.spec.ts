import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { createProducerConnection, readRedisMemory, redisPing, type RedisMemoryLevel } from '@tickvault/queue';
import { createMetrics } from '@tickvault/runtime';
import { eventually, startPrivateRedis, type PrivateRedis } from '@tickvault/testing';
import { RedisMemoryWatch } from './redis-memory.js';

describe('RedisMemoryWatch against a redis-server of its own', () => {
  let server: PrivateRedis;
  let redis: Redis;
  const lines: { level: number; msg: string; usedRatio?: number | null }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const metrics = createMetrics('writer-test');
  const changes: RedisMemoryLevel[] = [];
  let watch: RedisMemoryWatch;
  const gauge = async (name: 'redisMemoryUsed' | 'redisMaxmemory' | 'redisMemoryRatio') => (await metrics[name].get()).values[0]?.value;
  /** Sets maxmemory so that what Redis uses now is `ratio` of it. */
  const limitAt = async (ratio: number) => {
    const { usedBytes } = await readRedisMemory(server.admin);
    await server.admin.config('SET', 'maxmemory', String(Math.round(usedBytes / ratio)));
  };
  const warnings = () => lines.filter((l) => l.level >= 40);

  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = createProducerConnection(server.url, 'tickvault-writer-test');
    redis.on('error', () => {});
    await eventually(() => redisPing(redis).then(() => true), 'producer connection ready');
    // Some data, so that used_memory is well above the server's own baseline.
    await server.admin.set('{memtest}:ballast', 'x'.repeat(4 * 1024 * 1024));
    watch = new RedisMemoryWatch({ redis, logger, metrics, onLevelChange: (level) => changes.push(level) });
  });
  afterAll(async () => {
    watch?.stop();
    redis?.disconnect();
    await server?.stop();
  });

  it('warns once that Redis has no maxmemory, and reports used bytes with a limit of 0', async () => {
    const memory = await watch.check();
    expect(memory).toMatchObject({ maxBytes: 0, usedRatio: null });
    expect(memory!.usedBytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(watch.level).toBe('unlimited');
    expect(await gauge('redisMemoryUsed')).toBe(memory!.usedBytes);
    expect(await gauge('redisMaxmemory')).toBe(0);
    expect(warnings().map((l) => l.msg)).toEqual([expect.stringMatching(/^Redis has no maxmemory/)]);
    await watch.check();
    expect(warnings()).toHaveLength(1);
  });

  it('stays quiet well under maxmemory', async () => {
    await limitAt(0.4);
    const before = warnings().length;
    await watch.check();
    expect(watch.level).toBe('ok');
    expect(await gauge('redisMemoryRatio')).toBeGreaterThan(0.3);
    expect(await gauge('redisMemoryRatio')).toBeLessThan(0.5);
    expect(warnings()).toHaveLength(before);
  });

  it('warns past 80% of maxmemory, with the ratio in the gauge and the log', async () => {
    await limitAt(0.9);
    const before = warnings().length;
    await watch.check();
    expect(watch.level).toBe('high');
    const ratio = (await gauge('redisMemoryRatio'))!;
    expect(ratio).toBeGreaterThanOrEqual(0.8);
    expect(ratio).toBeLessThan(1);
    const warning = warnings().slice(before);
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatchObject({ level: 40, msg: expect.stringMatching(/^Redis memory is high \(.* maxmemory \(\d+%\)\); at 100% it refuses new jobs/) });
    expect(warning[0]!.usedRatio).toBeGreaterThanOrEqual(0.8);
    // Not repeated on every reading.
    await watch.check();
    expect(warnings()).toHaveLength(before + 1);
  });

  it('says so as an error once Redis refuses writes', async () => {
    await limitAt(1.5);
    await expect(server.admin.set('{memtest}:more', 'y')).rejects.toThrow(/OOM/);
    await watch.check();
    expect(watch.level).toBe('full');
    expect(warnings().at(-1)).toMatchObject({ level: 50, msg: expect.stringMatching(/^Redis is full .* refuses new jobs/) });
  });

  it('says when memory is back under the warning level, and reported every change', async () => {
    await limitAt(0.5);
    await watch.check();
    expect(watch.level).toBe('ok');
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'Redis memory back under the warning level' });
    expect(changes).toEqual(['unlimited', 'ok', 'high', 'full', 'ok']);
  });

  it('keeps the last values when Redis does not answer', async () => {
    const ratio = await gauge('redisMemoryRatio');
    const down = createProducerConnection('redis://127.0.0.1:1', 'tickvault-writer-test-down');
    down.on('error', () => {});
    const blind = new RedisMemoryWatch({ redis: down, logger, metrics });
    try {
      expect(await blind.check()).toBeUndefined();
      expect(await gauge('redisMemoryRatio')).toBe(ratio);
    } finally {
      down.disconnect();
    }
  });
});

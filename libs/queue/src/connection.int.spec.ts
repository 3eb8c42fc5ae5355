import { describe, expect, it } from 'vitest';
import { testRedisUrl } from '@tickvault/testing';
import { createProducerConnection, createWorkerConnection, redisPing } from './connection.js';

describe('redisPing', () => {
  it('on a fail-fast client still connecting, waits for the connection instead of failing "Stream isn\'t writeable"', async () => {
    const redis = createProducerConnection(testRedisUrl(), 'tickvault-test-ping');
    const errors: Error[] = [];
    redis.on('error', (error) => errors.push(error));
    try {
      // Right after construction, as every service pings at startup.
      expect(redis.status).toBe('connecting');
      await redisPing(redis);
      expect(errors).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('rejects with the socket error when nothing answers, on either kind of client', async () => {
    for (const create of [createProducerConnection, createWorkerConnection]) {
      const redis = create('redis://127.0.0.1:1', 'tickvault-test-ping');
      redis.on('error', () => {});
      try {
        const error = await redisPing(redis).catch((e: unknown) => e);
        expect((error as { code?: string }).code).toBe('ECONNREFUSED');
      } finally {
        redis.disconnect();
      }
    }
  });
});

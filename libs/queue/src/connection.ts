import { Redis, type RedisOptions } from 'ioredis';

/**
 * Workers block on Redis and must wait out outages instead of failing commands:
 * BullMQ requires maxRetriesPerRequest null for them.
 */
export function createWorkerConnection(url: string, name: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    retryStrategy: reconnectDelay,
    reconnectOnError: reconnectOnReadOnly,
  } satisfies RedisOptions);
}

/**
 * Producers fail fast while Redis is away (no offline queue), so the ingest buffer, which is
 * bounded and counted, holds the data instead of an unbounded ioredis command queue.
 */
export function createProducerConnection(url: string, name: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: name,
    retryStrategy: reconnectDelay,
    reconnectOnError: reconnectOnReadOnly,
  } satisfies RedisOptions);
}

/**
 * After a failover the old primary answers READONLY on the open socket; reconnecting (through DNS or
 * a proxy) reaches the new primary. Without this the connection would stay on the replica for good.
 */
function reconnectOnReadOnly(error: Error): boolean {
  return error.message.startsWith('READONLY');
}

/** Reconnect forever, backing off to 5 s, so a Redis restart is survived without a process restart. */
function reconnectDelay(attempt: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
}

/**
 * PING, once the connection is up. While the client is still connecting it waits for the attempt's
 * outcome instead of sending at once: a fail-fast client would refuse the command with "Stream isn't
 * writeable", a retrying one would hold it; this way a healthy start pings once, and an unreachable
 * Redis fails with the socket's own error (ECONNREFUSED, ENOTFOUND, ...).
 */
export async function redisPing(redis: Redis): Promise<void> {
  if (CONNECTING.has(redis.status)) await connectionOutcome(redis);
  const answer = await redis.ping();
  if (answer !== 'PONG') throw new Error(`unexpected PING answer: ${answer}`);
}

const CONNECTING = new Set(['wait', 'connecting', 'connect', 'reconnecting']);

function connectionOutcome(redis: Redis): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      redis.off('ready', onReady);
      redis.off('error', onError);
      redis.off('end', onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => settle();
    const onError = (error: Error) => settle(error);
    const onEnd = () => settle(new Error('Redis connection closed'));
    redis.on('ready', onReady);
    redis.on('error', onError);
    redis.on('end', onEnd);
    // A lazy client connects on its first command; this is it.
    if (redis.status === 'wait') redis.connect().catch(() => {});
  });
}

/** BullMQ loses jobs silently if Redis evicts keys; anything but noeviction is a misconfiguration. */
export async function redisEvictionPolicy(redis: Redis): Promise<string> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  return reply[1] ?? 'unknown';
}

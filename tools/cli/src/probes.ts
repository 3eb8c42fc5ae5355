import { maskUrlsInText } from '@tickvault/config';
import { createDb, type Sql } from '@tickvault/db';
import { createRedisClient, type ClusterNode, type RedisClient } from '@tickvault/queue';
import { errorMessage } from '@tickvault/runtime';

/** How long a CLI command waits for Postgres or Redis before it says so: long enough for a slow LAN, short for a human. */
export const PROBE_TIMEOUT_SECONDS = 3;

/**
 * A Redis client for one-shot commands: one connection attempt with a short timeout, no retries and
 * no offline queue, so an unreachable Redis is an error within seconds instead of an endless wait.
 * Rejects with the socket error (ECONNREFUSED, ...) rather than ioredis' generic "Connection is closed".
 */
export async function connectRedisOnce(url: string, name: string, clusterNodes?: readonly ClusterNode[]): Promise<RedisClient> {
  const redis = createRedisClient(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_SECONDS * 1000,
    commandTimeout: PROBE_TIMEOUT_SECONDS * 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectionName: name,
  }, clusterNodes);
  let lastError: unknown;
  redis.on('error', (error) => {
    lastError = error;
  });
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    // On a closed socket disconnect() would only arm a 2 s destroy timer that keeps the CLI alive.
    if (redis.status !== 'end') redis.disconnect();
    throw lastError ?? error;
  }
}

/** A small pool that gives up connecting after the probe timeout. */
export function createProbeDb(url: string, name: string, max = 1): Sql {
  return createDb(url, { max, connectTimeoutSeconds: PROBE_TIMEOUT_SECONDS, applicationName: name });
}

/** Driver errors can quote the connection URL; this is the only form in which the CLI shows one. */
export function safeErrorMessage(error: unknown): string {
  return maskUrlsInText(errorMessage(error));
}

/** The driver's short error code (ECONNREFUSED, 28P01, ...) when there is one, else the message. */
export function errorCodeOrMessage(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length > 0 ? code : safeErrorMessage(error);
}

/** 3D000: the server answered, but the database does not exist yet (`migrate` creates it). */
export function isMissingDatabase(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '3D000';
}

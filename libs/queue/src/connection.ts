import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A connection to one Redis server or to a Redis Cluster (REDIS_CLUSTER_NODES): BullMQ takes either. */
export type RedisClient = Redis | Cluster;

/** A seed node of a Redis Cluster; the client learns the others (and every slot's master) from it. */
export interface ClusterNode {
  host: string;
  port: number;
}

/**
 * Workers block on Redis and must wait out outages instead of failing commands:
 * BullMQ requires maxRetriesPerRequest null for them.
 */
export function createWorkerConnection(url: string, name: string): Redis;
export function createWorkerConnection(url: string, name: string, clusterNodes: readonly ClusterNode[] | undefined): RedisClient;
export function createWorkerConnection(url: string, name: string, clusterNodes?: readonly ClusterNode[]): RedisClient {
  const options = {
    maxRetriesPerRequest: null,
    connectionName: name,
    retryStrategy: reconnectDelay,
    reconnectOnError: reconnectOnReadOnly,
  } satisfies RedisOptions;
  return createRedisClient(url, options, clusterNodes);
}

/**
 * Producers fail fast while Redis is away (no offline queue), so the ingest buffer, which is
 * bounded and counted, holds the data instead of an unbounded ioredis command queue.
 */
export function createProducerConnection(url: string, name: string): Redis;
export function createProducerConnection(url: string, name: string, clusterNodes: readonly ClusterNode[] | undefined): RedisClient;
export function createProducerConnection(url: string, name: string, clusterNodes?: readonly ClusterNode[]): RedisClient {
  const options = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: name,
    retryStrategy: reconnectDelay,
    reconnectOnError: reconnectOnReadOnly,
  } satisfies RedisOptions;
  return createRedisClient(url, options, clusterNodes, { enableOfflineQueue: false });
}

/**
 * A client for REDIS_URL, or with cluster nodes a Cluster client seeded with them. REDIS_URL's host is
 * then not used; its user, password and scheme (rediss: TLS) apply to every node. A cluster has only
 * database 0, so a URL naming another is refused rather than silently ignored.
 */
export function createRedisClient(url: string, node: RedisOptions, clusterNodes?: readonly ClusterNode[], cluster: ClusterOptions = {}): RedisClient {
  if (!clusterNodes?.length) return new Redis(url, node);
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && db !== '0') throw new Error(`REDIS_URL names database ${db}, but a Redis Cluster (REDIS_CLUSTER_NODES) has only database 0`);
  const { retryStrategy, lazyConnect, enableOfflineQueue, ...redisOptions } = node;
  return new Cluster(clusterNodes.map((n) => ({ host: n.host, port: n.port })), {
    lazyConnect,
    enableOfflineQueue,
    ...cluster,
    redisOptions: {
      ...redisOptions,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
    // With TLS the seed nodes keep their host names (no resolving to an IP first), so certificates issued for
    // those names verify (ioredis' advice for TLS clusters such as ElastiCache).
    ...(parsed.protocol === 'rediss:' ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
    // The cluster as a whole reconnects (a dead master is replaced by its promoted replica, found
    // through a slots refresh), so the per-node strategy becomes the cluster's.
    clusterRetryStrategy: retryStrategy ?? reconnectDelay,
    enableReadyCheck: true,
    // A slots refresh that hangs on a dead node gives up in time to try another and follow a
    // failover (cluster-node-timeout is a few seconds).
    slotsRefreshTimeout: 2_000,
  });
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

/** Every server behind the client: the client itself, or each master of a cluster. */
export function redisMasters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * PING, once the connection is up. While the client is still connecting it waits for the attempt's
 * outcome instead of sending at once: a fail-fast client would refuse the command with "Stream isn't
 * writeable", a retrying one would hold it; this way a healthy start pings once, and an unreachable
 * Redis fails with the socket's own error (ECONNREFUSED, ENOTFOUND, ...).
 */
export async function redisPing(redis: RedisClient): Promise<void> {
  if (CONNECTING.has(redis.status)) await connectionOutcome(redis);
  const answer = await redis.ping();
  if (answer !== 'PONG') throw new Error(`unexpected PING answer: ${answer}`);
}

const CONNECTING = new Set(['wait', 'connecting', 'connect', 'reconnecting']);

function connectionOutcome(redis: RedisClient): Promise<void> {
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

/**
 * BullMQ loses jobs silently if Redis evicts keys; anything but noeviction is a misconfiguration. On a
 * cluster every master must say so (CONFIG is per server): the first that does not is reported.
 */
export async function redisEvictionPolicy(redis: RedisClient): Promise<string> {
  const policies = await Promise.all(redisMasters(redis).map(async (node) => ((await node.config('GET', 'maxmemory-policy')) as string[])[1] ?? 'unknown'));
  return policies.find((p) => p !== 'noeviction') ?? policies[0] ?? 'unknown';
}

import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisClient } from './connection.js';

const NODES = [{ host: 'redis-0.test', port: 7000 }, { host: 'redis-1.test', port: 7001 }];

describe('createRedisClient', () => {
  it('is a single-server client without cluster nodes', () => {
    const client = createRedisClient('redis://127.0.0.1:6379', { lazyConnect: true });
    expect(client).toBeInstanceOf(Redis);
    client.disconnect();
  });

  it('with cluster nodes: a Cluster seeded with them, REDIS_URL giving only user, password and TLS', () => {
    const client = createRedisClient('rediss://app:p%40ss@ignored.host:6379/0', { lazyConnect: true, connectionName: 'test' }, NODES) as Cluster;
    expect(client).toBeInstanceOf(Cluster);
    expect((client as unknown as { startupNodes: unknown }).startupNodes).toEqual(NODES);
    expect(client.options.redisOptions).toMatchObject({ username: 'app', password: 'p@ss', tls: {}, connectionName: 'test' });
    // TLS certificates name the hosts: they are not resolved to addresses first.
    expect(typeof client.options.dnsLookup).toBe('function');
    client.disconnect();
  });

  it('refuses a database other than 0 on a cluster, naming REDIS_URL', () => {
    expect(() => createRedisClient('redis://h:6379/3', { lazyConnect: true }, NODES)).toThrow(/REDIS_URL names database 3/);
  });
});

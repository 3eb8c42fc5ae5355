import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

describe('REDIS_CLUSTER_NODES', () => {
  it('is empty by default: a single Redis at REDIS_URL', () => {
    expect(loadConfig('test', ['REDIS_CLUSTER_NODES'], {}).REDIS_CLUSTER_NODES).toEqual([]);
    expect(loadConfig('test', ['REDIS_CLUSTER_NODES'], { REDIS_CLUSTER_NODES: ' ' }).REDIS_CLUSTER_NODES).toEqual([]);
  });

  it('parses host:port seed nodes, IPv6 in brackets', () => {
    const config = loadConfig('test', ['REDIS_CLUSTER_NODES'], { REDIS_CLUSTER_NODES: 'redis-0:7000, 10.0.0.2:7001,[::1]:7002' });
    expect(config.REDIS_CLUSTER_NODES).toEqual([{ host: 'redis-0', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '::1', port: 7002 }]);
  });

  it.each(['redis-0', 'redis-0:0', 'redis-0:70000', 'redis://redis-0:7000', ',', 'a:1,b'])('refuses %j naming the variable', (value) => {
    let error: ConfigError | undefined;
    try {
      loadConfig('writer', ['REDIS_CLUSTER_NODES'], { REDIS_CLUSTER_NODES: value });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.name)).toEqual(['REDIS_CLUSTER_NODES']);
  });

  it('refuses a REDIS_URL naming a database other than 0 with cluster nodes (a cluster has only 0)', () => {
    expect(() => loadConfig('writer', ['REDIS_URL', 'REDIS_CLUSTER_NODES'], { REDIS_URL: 'redis://:pw@h:6379/2', REDIS_CLUSTER_NODES: 'a:7000' }))
      .toThrow(/REDIS_URL: names database 2, but a Redis Cluster \(REDIS_CLUSTER_NODES\) has only database 0 \(got "redis:\/\/:\*\*\*@h:6379\/2"\)/);
    expect(loadConfig('writer', ['REDIS_URL', 'REDIS_CLUSTER_NODES'], { REDIS_URL: 'redis://h:6379/2' }).REDIS_URL).toBe('redis://h:6379/2');
    expect(loadConfig('writer', ['REDIS_URL', 'REDIS_CLUSTER_NODES'], { REDIS_URL: 'rediss://h:6379/0', REDIS_CLUSTER_NODES: 'a:7000' }).REDIS_CLUSTER_NODES).toHaveLength(1);
  });
});

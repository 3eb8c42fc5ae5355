import type { Redis } from 'ioredis';
import { redisMasters, type RedisClient } from './connection.js';

/**
 * Share of maxmemory from which the writer warns and `tickvault report` flags Redis. At 100% Redis
 * refuses new jobs (noeviction); 80% of the shipped 1 GB is still ~4 million waiting ticks, time to
 * start writers or fix Postgres before ingest has to buffer.
 */
export const REDIS_MEMORY_WARN_RATIO = 0.8;

export interface RedisMemory {
  /** INFO memory `used_memory`: what maxmemory is compared with. */
  usedBytes: number;
  /** 0: no limit, Redis grows until the host runs out of memory. */
  maxBytes: number;
  /** used / max; null without a limit. */
  usedRatio: number | null;
  /** On a cluster, the master these figures are from (host:port): the one nearest trouble. */
  node?: string;
}

export type RedisMemoryLevel = 'unlimited' | 'ok' | 'high' | 'full';

/**
 * INFO memory of the server, or on a cluster of the master nearest trouble: masters fill separately
 * (each holds its own slots' queues), and the first full one already refuses jobs.
 */
export async function readRedisMemory(redis: RedisClient): Promise<RedisMemory> {
  const masters = redisMasters(redis);
  const readings = await Promise.all(masters.map(readServerMemory));
  if (masters.length === 1) return readings[0]!;
  const worst = readings.map((memory, i) => ({ ...memory, node: `${masters[i]!.options.host}:${masters[i]!.options.port}` }))
    .sort((a, b) => SEVERITY[redisMemoryLevel(b)] - SEVERITY[redisMemoryLevel(a)] || (b.usedRatio ?? 0) - (a.usedRatio ?? 0));
  if (!worst[0]) throw new Error('the Redis Cluster has no reachable master');
  return worst[0];
}

const SEVERITY: Record<RedisMemoryLevel, number> = { ok: 0, unlimited: 1, high: 2, full: 3 };

async function readServerMemory(redis: Redis): Promise<RedisMemory> {
  const info = await redis.info('memory');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:(\\d+)\\r?$`, 'm').exec(info);
    if (!match) throw new Error(`INFO memory has no ${name} field`);
    return Number(match[1]);
  };
  const usedBytes = field('used_memory');
  const maxBytes = field('maxmemory');
  return { usedBytes, maxBytes, usedRatio: maxBytes > 0 ? usedBytes / maxBytes : null };
}

export function redisMemoryLevel(memory: RedisMemory, warnRatio = REDIS_MEMORY_WARN_RATIO): RedisMemoryLevel {
  if (memory.usedRatio === null) return 'unlimited';
  if (memory.usedRatio >= 1) return 'full';
  return memory.usedRatio >= warnRatio ? 'high' : 'ok';
}

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${Math.round(bytes / MIB).toLocaleString('en-US')} MiB`;

/** "812 MiB used of 1,024 MiB maxmemory (79%)", or "... used, no maxmemory". */
export function describeRedisMemory(memory: RedisMemory): string {
  const on = memory.node ? ` on cluster master ${memory.node}` : '';
  if (memory.usedRatio === null) return `${mib(memory.usedBytes)} used${on}, no maxmemory`;
  return `${mib(memory.usedBytes)} used of ${mib(memory.maxBytes)} maxmemory${on} (${Math.floor(memory.usedRatio * 100)}%)`;
}

/** What an operator should know and do at this level; null when there is nothing to say. */
export function redisMemoryWarning(memory: RedisMemory, level: RedisMemoryLevel = redisMemoryLevel(memory)): string | null {
  const shown = describeRedisMemory(memory);
  switch (level) {
    case 'unlimited':
      return `Redis has no maxmemory (${shown}): a backlog or a failed set grows until the host kills Redis; set maxmemory with noeviction (infra/redis/redis.conf)`;
    case 'full':
      return `Redis is full (${shown}) and refuses new jobs: ingest services buffer, then drop ticks. Drain the backlog (writers running, Postgres up) or raise maxmemory`;
    case 'high':
      return `Redis memory is high (${shown}); at 100% it refuses new jobs. Drain the backlog (writers running, Postgres up) or raise maxmemory`;
    default:
      return null;
  }
}

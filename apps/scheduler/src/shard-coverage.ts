import { tickShards } from '@tickvault/schema';
import { recordEvent, type Sql } from '@tickvault/db';
import { ORPHAN_GRACE_MS, orphanedShardEventKey, orphanedShardsNow, readServices, shardPendingJobs, unconsumedShards, type RedisClient } from '@tickvault/queue';
import type { Logger } from '@tickvault/runtime';

export interface ShardCoverageDeps {
  sql: Sql;
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  service: string;
}

/**
 * Part of the hourly health check: tick shards no live writer consumes. Writers report this themselves
 * every few seconds; the scheduler adds the case they cannot, no writer running at all while ingest
 * services produce. Its events share the writers' dedupe keys, so a shard is recorded once per window
 * whoever finds it. Returns the orphaned shard indexes.
 */
export async function checkShardCoverage(deps: ShardCoverageDeps, now = new Date()): Promise<number[]> {
  const { services } = await readServices(deps.redis, deps.prefix);
  const writers = services.filter((s) => s.writer);
  const ingest = services.filter((s) => s.ingest);
  const at = now.getTime();
  // With no writer registered, the producers' shards are all orphaned once the producers have run a registry TTL.
  const producing = ingest.some((s) => at - Date.parse(s.startedAt) >= ORPHAN_GRACE_MS);
  // The scheduler reads no TICK_QUEUE_SHARDS: the registered processes say which shards exist.
  const orphaned = writers.length > 0 ? orphanedShardsNow(services, 1, at) : producing ? unconsumedShards(services, 1) : [];
  const shards = tickShards(deps.prefix, (orphaned.at(-1) ?? 0) + 1);
  for (const index of orphaned) {
    const pending = await shardPendingJobs(deps.redis, deps.prefix, index);
    const details = { queue: shards[index]!.name, shard: index, pending, writers: writers.map((s) => ({ id: s.id, shards: s.writer!.shards })) };
    (pending > 0 ? deps.logger.error : deps.logger.warn).call(deps.logger, details,
      `no live writer consumes tick shard ${index} (${details.queue}): its jobs wait until a writer whose WRITER_SHARDS includes ${index} (or all) runs`);
    await recordEvent(deps.sql, {
      service: deps.service, kind: 'orphaned_shard', symbol: null, details,
      dedupeKey: orphanedShardEventKey('orphaned_shard', deps.prefix, index, at),
    });
  }
  return orphaned;
}

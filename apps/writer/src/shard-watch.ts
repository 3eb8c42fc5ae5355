import type { Gauge } from 'prom-client';
import { tickShards } from '@tickvault/schema';
import { recordEvent, type Sql } from '@tickvault/db';
import { orphanedShardEventKey, OrphanTracker, readServices, shardPendingJobs, unconsumedShards } from '@tickvault/queue';
import { errorMessage, type Logger } from '@tickvault/runtime';

export interface ShardWatchOptions {
  /** A fail-fast connection: a look during a Redis outage fails at once and is skipped. */
  redis: Parameters<typeof readServices>[0];
  prefix: string;
  /** This writer's TICK_QUEUE_SHARDS. */
  shardCount: number;
  /** The shards this writer consumes: never orphaned while it runs, even if its registry write failed. */
  own: readonly number[];
  sql: Sql;
  logger: Logger;
  service: string;
  /** 1 per tick queue while no live writer has consumed it for the grace, else 0. */
  gauge: Gauge<'queue'>;
  tracker?: OrphanTracker;
}

/**
 * Every writer looks at the service registry now and then for tick shards that no live writer
 * consumes (writers may own a subset, WRITER_SHARDS). An orphaned shard is logged, exported as a
 * metric and recorded as an `orphaned_shard` event with its waiting jobs; readiness is left alone:
 * this writer's own shards are being written, and taking it out of rotation would fix nothing.
 */
export class ShardWatch {
  private readonly tracker: OrphanTracker;
  private readonly own: Set<number>;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private current: { shard: number; queue: string; pending: number }[] = [];

  constructor(private readonly options: ShardWatchOptions) {
    this.tracker = options.tracker ?? new OrphanTracker();
    this.own = new Set(options.own);
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.look(), intervalMs);
    this.timer.unref();
    void this.look();
  }

  /** The orphaned shards the last look found, with their waiting jobs then. */
  orphaned(): readonly { shard: number; queue: string; pending: number }[] {
    return this.current;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.looking;
  }

  /** One look (never overlapping another); failures are logged at debug: Redis and Postgres outages have their own reports. */
  look(): Promise<void> {
    this.looking ??= this.lookOnce()
      .catch((error: unknown) => this.options.logger.debug({ err: errorMessage(error) }, 'shard coverage look failed; next interval'))
      .finally(() => (this.looking = undefined));
    return this.looking;
  }

  private async lookOnce(): Promise<void> {
    const { redis, prefix, shardCount } = this.options;
    const { services } = await readServices(redis, prefix);
    const now = Date.now();
    const unconsumed = unconsumedShards(services, shardCount).filter((i) => !this.own.has(i));
    const { orphaned, newly, recovered } = this.tracker.observe(unconsumed, now);
    try {
      await this.report(unconsumed, orphaned, newly, recovered, services, now);
    } catch (error) {
      this.tracker.retract(newly, recovered);
      throw error;
    }
  }

  private async report(
    unconsumed: readonly number[], orphaned: readonly number[], newly: readonly number[], recovered: readonly number[],
    services: Awaited<ReturnType<typeof readServices>>['services'], now: number,
  ): Promise<void> {
    const { redis, prefix, shardCount, logger, gauge } = this.options;
    const shards = tickShards(prefix, Math.max(shardCount, ...unconsumed.map((i) => i + 1)));
    for (const shard of shards) gauge.set({ queue: shard.name }, orphaned.includes(shard.index) ? 1 : 0);
    const writers = services.filter((s) => s.writer).map((s) => ({ id: s.id, shards: s.writer!.shards }));
    const found: { shard: number; queue: string; pending: number; unconsumedForMs: number }[] = [];
    for (const index of orphaned) {
      const queue = shards[index]!.name;
      found.push({ shard: index, queue, pending: await shardPendingJobs(redis, prefix, index), unconsumedForMs: now - (this.tracker.unconsumedSince(index) ?? now) });
    }
    // Before the events, so whatever reads the events finds /readyz naming the same shards.
    this.current = found.map(({ shard, queue, pending }) => ({ shard, queue, pending }));
    for (const { shard: index, queue, pending, unconsumedForMs } of found) {
      if (newly.includes(index)) {
        (pending > 0 ? logger.error : logger.warn).call(logger, { queue, shard: index, pending, unconsumedForMs, writers },
          `no live writer consumes tick shard ${index} (${queue}): its jobs wait until a writer whose WRITER_SHARDS includes ${index} (or all) runs`);
      }
      await recordEvent(this.options.sql, {
        service: this.options.service, kind: 'orphaned_shard', symbol: null,
        details: { queue, shard: index, pending, unconsumedForMs, writers },
        dedupeKey: orphanedShardEventKey('orphaned_shard', prefix, index, now),
      });
    }
    for (const index of recovered) {
      const shard = shards[index] ?? tickShards(prefix, index + 1)[index]!;
      gauge.set({ queue: shard.name }, 0);
      logger.info({ queue: shard.name, shard: index }, `tick shard ${index} has a live writer again`);
      await recordEvent(this.options.sql, {
        service: this.options.service, kind: 'orphaned_shard_consumed', symbol: null,
        details: { queue: shard.name, shard: index },
        dedupeKey: orphanedShardEventKey('orphaned_shard_consumed', prefix, index, now),
      });
    }
  }
}

import type { RedisClient } from '@tickvault/queue';
import { errorMessage, type Logger } from '@tickvault/runtime';

// Renew a lease this many times per TTL: two renewals may fail before it lapses.
const RENEWALS_PER_TTL = 3;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface SymbolLeaseOptions {
  redis: RedisClient;
  /** Queue prefix: a Redis Cluster hash tag, so the leases of one deployment share a slot. */
  prefix: string;
  service: string;
  source: string;
  symbols: readonly string[];
  replicaId: string;
  ttlMs: number;
  logger: Logger;
  onChange: (held: readonly string[], acquired: readonly string[]) => void;
}

/**
 * Shares the symbols of one source among the replicas of an ingest service, so N replicas do not
 * ingest the same symbols N times. Each symbol is a Redis key with a TTL owned by one replica;
 * replicas announce themselves in a sorted set, each takes its exact share (the shares add up to the
 * symbol count), gives up extras when a replica joins, and picks up the symbols of a replica that died once its leases lapse.
 * During a Redis outage a replica keeps what it holds: at worst two replicas ingest a symbol for a
 * while, which the idempotent write absorbs.
 */
export class SymbolLeases {
  private held = new Set<string>();
  /** What the runner was last told it holds; a round that fails halfway is reconciled next time. */
  private notified = new Set<string>();
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly replicasKey: string;

  constructor(private readonly options: SymbolLeaseOptions) {
    this.replicasKey = `${options.prefix}:ingest-replicas:${options.service}:${options.source}`;
  }

  get symbols(): readonly string[] {
    return [...this.held].sort();
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      this.ticking = this.tick()
        .catch((error) =>
          this.options.logger.warn({ err: errorMessage(error), source: this.options.source }, 'symbol lease round failed; keeping current symbols'),
        )
        .finally(() => this.notify());
      await this.ticking;
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.options.ttlMs / RENEWALS_PER_TTL);
    };
    void loop();
  }

  /** Releases every lease so another replica takes the symbols over at once instead of after the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    const { redis, replicaId } = this.options;
    try {
      await Promise.all([...this.held].map((symbol) => redis.eval(RELEASE, 1, this.key(symbol), replicaId)));
      await redis.zrem(this.replicasKey, replicaId);
    } catch (error) {
      this.options.logger.warn({ err: errorMessage(error) }, 'could not release symbol leases; they lapse after their TTL');
    }
    this.held.clear();
  }

  private key(symbol: string): string {
    return `${this.options.prefix}:ingest-lease:${this.options.service}:${this.options.source}:${symbol}`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { redis, replicaId, ttlMs, symbols } = this.options;
    const now = Date.now();
    await redis.zadd(this.replicasKey, now, replicaId);
    await redis.zremrangebyscore(this.replicasKey, '-inf', now - ttlMs);
    const members = (await redis.zrange(this.replicasKey, 0, -1)).sort();
    const replicas = Math.max(1, members.length);
    // Exact shares that add up to the symbol count: the first (count mod replicas) ids take one more.
    const rank = Math.max(0, members.indexOf(replicaId));
    const target = Math.floor(symbols.length / replicas) + (rank < symbols.length % replicas ? 1 : 0);

    for (const symbol of [...this.held]) {
      const renewed = (await redis.eval(RENEW, 1, this.key(symbol), replicaId, String(ttlMs))) as number;
      if (renewed !== 1) this.held.delete(symbol);
    }
    // Give up extras (a replica joined): the others take them on their next round.
    for (const symbol of this.symbols.slice(target)) {
      await redis.eval(RELEASE, 1, this.key(symbol), replicaId);
      this.held.delete(symbol);
    }
    // Replicas try free symbols in different orders, so they do not all race for the same one.
    const candidates = symbols.filter((s) => !this.held.has(s)).sort((a, b) => spread(replicaId, a) - spread(replicaId, b));
    for (const symbol of candidates) {
      if (this.held.size >= target) break;
      const taken = await redis.set(this.key(symbol), replicaId, 'PX', ttlMs, 'NX');
      if (taken === 'OK') this.held.add(symbol);
    }
    this.replicas = replicas;
  }

  private replicas = 1;

  /** Tells the runner about every difference since the last notice, even after a failed round. */
  private notify(): void {
    if (this.stopped) return;
    const acquired = [...this.held].filter((s) => !this.notified.has(s));
    const lost = [...this.notified].filter((s) => !this.held.has(s));
    if (acquired.length === 0 && lost.length === 0) return;
    this.notified = new Set(this.held);
    this.options.logger.info({ source: this.options.source, held: this.symbols, acquired, lost, replicas: this.replicas }, 'symbol leases changed');
    this.options.onChange(this.symbols, acquired);
  }
}

function spread(replicaId: string, symbol: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${replicaId}|${symbol}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

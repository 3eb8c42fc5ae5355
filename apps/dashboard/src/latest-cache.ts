import type { RedisClient } from '@tickvault/queue';
import type { LatestQuote } from '@tickvault/db';
import type { SeriesRef } from './params.js';

/**
 * `/api/latest` answers per series from Redis for `ttlMs`, so any number of polling clients cost
 * Postgres at most one lookup per series per TTL. Keys live under the queue prefix (one hash tag,
 * one Cluster slot, removed with everything else of this installation) and expire on their own.
 */
export class LatestCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly load: (series: readonly SeriesRef[]) => Promise<LatestQuote[]>,
    private readonly onCacheError: (error: unknown) => void = () => {},
  ) {}

  key(series: SeriesRef): string {
    return `${this.prefix}:dashboard:latest:${series.source}:${series.symbol}`;
  }

  async get(series: readonly SeriesRef[]): Promise<LatestQuote[]> {
    if (this.ttlMs === 0 || series.length === 0) return this.load(series);
    let cached: (string | null)[];
    try {
      cached = await this.redis.mget(series.map((s) => this.key(s)));
    } catch (error) {
      // Redis is the cache, not the source of truth: answer from Postgres (the small pool still bounds it).
      this.onCacheError(error);
      return this.load(series);
    }
    const quotes: (LatestQuote | undefined)[] = cached.map((text) => (text === null ? undefined : parseCached(text)));
    const missing = series.filter((_, i) => quotes[i] === undefined);
    if (missing.length > 0) {
      const loaded = await this.load(missing);
      const pipeline = this.redis.pipeline();
      let next = 0;
      for (let i = 0; i < quotes.length; i++) {
        if (quotes[i] !== undefined) continue;
        const quote = loaded[next++]!;
        quotes[i] = quote;
        pipeline.set(this.key(series[i]!), JSON.stringify(quote), 'PX', this.ttlMs);
      }
      await pipeline.exec().catch((error: unknown) => this.onCacheError(error));
    }
    return quotes as LatestQuote[];
  }
}

/** A corrupt or old-format entry is a cache miss, not a failed request. */
function parseCached(text: string): LatestQuote | undefined {
  try {
    return JSON.parse(text) as LatestQuote;
  } catch {
    return undefined;
  }
}

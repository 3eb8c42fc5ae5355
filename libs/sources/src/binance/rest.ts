import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceLogger } from '../source.js';
import { backoffDelay } from '../backoff.js';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { HttpBodyTooLargeError, httpGet, parseRetryAfter, type HttpAnswer } from '../kit/http.js';

/** Request weights of the endpoints used (Binance spot docs). */
export const WEIGHTS = { historicalTrades: 25, aggTrades: 4, klines: 2, exchangeInfo: 20, ping: 1 } as const;

/** Binance answered with an error body (`{"code":-1121,"msg":"Invalid symbol."}`): retrying will not help. */
export class BinanceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    message: string,
  ) {
    super(`Binance ${status}${code === null ? '' : ` (${code})`}: ${message}`);
    this.name = 'BinanceApiError';
  }
}

export interface HistoricalTradeRow {
  id: unknown;
  price: unknown;
  qty: unknown;
  time: unknown;
}

export interface AggTradeRow {
  a: unknown;
  f: unknown;
  l: unknown;
  T: unknown;
}

export interface RestOptions {
  baseUrl: string;
  limiter: RequestWeightLimiter;
  logger?: SourceLogger;
  fetch?: typeof fetch;
  /** Per request, body included (default 10 s). */
  timeoutMs?: number;
  /** A body larger than this fails the call (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Network errors and 5xx are retried this many times in all (default 5); 429/418 do not count. */
  maxAttempts?: number;
  /** A Retry-After longer than this (an IP ban) fails the call instead of waiting in it (default 5 min). */
  maxRetryWaitMs?: number;
}

export interface RestStats {
  requests: number;
  weight: number;
  rateLimited: number;
  /** Time asked to wait by Retry-After, summed. */
  retryAfterMs: number;
  lastUsedWeight: number | null;
}

/**
 * The few REST calls the source needs, each through the shared weight limiter. 429 and 418 pause
 * every request of this limiter for Retry-After, then the call is retried; the used weight
 * header feeds the limiter so it slows down near the limit.
 */
export class BinanceRest {
  readonly stats: RestStats = { requests: 0, weight: 0, rateLimited: 0, retryAfterMs: 0, lastUsedWeight: null };

  constructor(private readonly options: RestOptions) {}

  historicalTrades(symbol: string, fromId: number | undefined, limit: number, signal?: AbortSignal): Promise<HistoricalTradeRow[]> {
    const params: Record<string, string> = { symbol, limit: String(limit) };
    if (fromId !== undefined) params.fromId = String(fromId);
    return this.getArray('/api/v3/historicalTrades', params, WEIGHTS.historicalTrades, signal) as Promise<HistoricalTradeRow[]>;
  }

  aggTrades(symbol: string, params: { startTime?: number; endTime?: number; fromId?: number; limit: number }, signal?: AbortSignal): Promise<AggTradeRow[]> {
    const query: Record<string, string> = { symbol, limit: String(params.limit) };
    if (params.startTime !== undefined) query.startTime = String(params.startTime);
    if (params.endTime !== undefined) query.endTime = String(params.endTime);
    if (params.fromId !== undefined) query.fromId = String(params.fromId);
    return this.getArray('/api/v3/aggTrades', query, WEIGHTS.aggTrades, signal) as Promise<AggTradeRow[]>;
  }

  /** One-minute (or other interval) klines from `startTime`, oldest first; rows as Binance sends them. */
  klines(symbol: string, params: { interval: string; startTime: number; endTime: number; limit: number }, signal?: AbortSignal): Promise<unknown[]> {
    const query: Record<string, string> = {
      symbol, interval: params.interval, startTime: String(params.startTime), endTime: String(params.endTime), limit: String(params.limit),
    };
    return this.getArray('/api/v3/klines', query, WEIGHTS.klines, signal);
  }

  private async getArray(path: string, params: Record<string, string>, weight: number, signal?: AbortSignal): Promise<unknown[]> {
    const body = await this.get(path, params, weight, signal);
    if (!Array.isArray(body)) throw new BinanceApiError(200, null, `${path} answered ${typeof body}, not an array`);
    return body;
  }

  async get(path: string, params: Record<string, string>, weight: number, signal?: AbortSignal): Promise<unknown> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}${path}?${new URLSearchParams(params).toString()}`;
    const maxAttempts = this.options.maxAttempts ?? 5;
    let failures = 0;
    for (;;) {
      await this.options.limiter.acquire(weight, signal);
      signal?.throwIfAborted();
      this.stats.requests++;
      this.stats.weight += weight;
      let response: HttpAnswer;
      try {
        // The deadline covers the body too: a server can send headers and then nothing.
        response = await httpGet(url, {
          timeoutMs: this.options.timeoutMs ?? 10_000,
          maxBodyBytes: this.options.maxBodyBytes,
          signal,
          fetch: this.options.fetch,
          skipBody: (status) => status === 429 || status === 418,
        });
      } catch (error) {
        signal?.throwIfAborted();
        // A body past the cap will not shrink by asking again.
        if (error instanceof HttpBodyTooLargeError || ++failures >= maxAttempts) throw error;
        await sleep(backoffDelay(failures - 1, 500, 10_000), undefined, { signal });
        continue;
      }
      const used = Number(response.headers.get('x-mbx-used-weight-1m'));
      if (response.headers.has('x-mbx-used-weight-1m') && Number.isFinite(used)) {
        this.stats.lastUsedWeight = used;
        this.options.limiter.reportUsed(used);
      }
      if (response.status === 429 || response.status === 418) {
        const waitMs = retryAfterMs(response);
        this.stats.rateLimited++;
        this.stats.retryAfterMs += waitMs;
        // Every request of this limiter waits, not just this one: continuing after 429 earns bans.
        this.options.limiter.pauseUntil(Date.now() + waitMs);
        this.options.logger?.warn({ status: response.status, path, retryAfterMs: waitMs }, 'Binance rate limit: pausing requests');
        if (waitMs > (this.options.maxRetryWaitMs ?? 300_000)) {
          throw new BinanceApiError(response.status, null, `rate limited for ${Math.round(waitMs / 1000)} s (Retry-After)`);
        }
        continue;
      }
      const text = response.text;
      if (response.status >= 500) {
        if (++failures >= maxAttempts) throw new BinanceApiError(response.status, null, text.slice(0, 200));
        await sleep(backoffDelay(failures - 1, 500, 10_000), undefined, { signal });
        continue;
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new BinanceApiError(response.status, null, `not JSON: ${text.slice(0, 200)}`);
      }
      if (!response.ok) {
        const error = body as { code?: unknown; msg?: unknown };
        throw new BinanceApiError(response.status, typeof error.code === 'number' ? error.code : null, typeof error.msg === 'string' ? error.msg : text.slice(0, 200));
      }
      return body;
    }
  }
}

/** Retry-After (seconds or an HTTP date); without it, the rest of the current minute (429) or two minutes (418). */
function retryAfterMs(response: HttpAnswer): number {
  const now = Date.now();
  return parseRetryAfter(response.headers.get('retry-after'), now) ?? (response.status === 418 ? 120_000 : 60_000 - (now % 60_000));
}

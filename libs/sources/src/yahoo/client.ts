import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceLogger } from '../source.js';
import { backoffDelay } from '../backoff.js';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { causeOf, HttpBodyTooLargeError, httpGet, parseRetryAfter } from '../kit/http.js';

/** Yahoo answered with an error status (and usually `{"chart":{"result":null,"error":{code,description}}}`). */
export class YahooApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    readonly description: string,
  ) {
    super(`Yahoo ${status}${code === null ? '' : ` (${code})`}: ${description}`);
    this.name = 'YahooApiError';
  }

  /** `404 Not Found: No data found, symbol may be delisted`. */
  get unknownSymbol(): boolean {
    return this.code === 'Not Found' || (this.status === 404 && this.code === null);
  }
}

/** No answer at all: connection refused or reset, DNS, or no complete answer before the timeout. */
export class YahooUnreachableError extends Error {
  constructor(message: string) {
    super(`Yahoo unreachable: ${message}`);
    this.name = 'YahooUnreachableError';
  }
}

/** Worth asking again later: the network, a 5xx, a timeout, a rate limit too long to wait in the call. */
export function isTransient(error: unknown): boolean {
  return !(error instanceof YahooApiError) || error.status >= 500 || error.status === 429;
}

export interface YahooClientOptions {
  chartUrl: string;
  limiter: RequestWeightLimiter;
  logger?: SourceLogger;
  fetch?: typeof fetch;
  /** Whole request, body included. */
  timeoutMs: number;
  /** A body larger than this fails the call (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Yahoo answers clients without a browser-like User-Agent with 429 at once. */
  userAgent: string;
  /** A 429 without Retry-After pauses this long, doubled for each 429 in a row. */
  defaultRetryAfterMs: number;
  /** A 429 asking for longer than this fails the call instead of waiting in it. */
  maxRetryWaitMs: number;
  random?: () => number;
}

export interface YahooClientStats {
  requests: number;
  rateLimited: number;
  /** Time paused for 429s, summed. */
  retryAfterMs: number;
  /** Requests that failed on the network, timed out or got a 5xx. */
  failures: number;
}

/**
 * GETs of the chart endpoint through the shared limiter. A 429 pauses every request of the limiter
 * (Yahoo limits by IP, so one symbol's 429 is everyone's), then the call asks again; network errors,
 * timeouts and 5xx are retried up to `maxAttempts` with backoff, then thrown.
 */
export class YahooClient {
  readonly stats: YahooClientStats = { requests: 0, rateLimited: 0, retryAfterMs: 0, failures: 0 };
  private consecutive429 = 0;

  constructor(private readonly options: YahooClientOptions) {}

  /** The body of `GET {chartUrl}/{symbol}?interval=1m&period1&period2` (seconds), for a 200 only. */
  async chart(yahooSymbol: string, period1: number, period2: number, { signal, maxAttempts }: { signal?: AbortSignal; maxAttempts: number }): Promise<string> {
    const params = new URLSearchParams({ interval: '1m', period1: String(period1), period2: String(period2), includePrePost: 'false' });
    const url = `${this.options.chartUrl.replace(/\/+$/, '')}/${encodeURIComponent(yahooSymbol)}?${params.toString()}`;
    let failures = 0;
    for (;;) {
      await this.options.limiter.acquire(1, signal);
      signal?.throwIfAborted();
      this.stats.requests++;
      let status: number;
      let retryAfter: string | null;
      let text: string;
      try {
        // The deadline covers the body too: a server can send headers and then nothing.
        const response = await httpGet(url, {
          timeoutMs: this.options.timeoutMs,
          maxBodyBytes: this.options.maxBodyBytes,
          signal,
          fetch: this.options.fetch,
          headers: { 'User-Agent': this.options.userAgent, Accept: 'application/json' },
        });
        status = response.status;
        retryAfter = response.headers.get('retry-after');
        text = response.text;
      } catch (error) {
        signal?.throwIfAborted();
        this.stats.failures++;
        // A body past the cap will not shrink by asking again.
        if (error instanceof HttpBodyTooLargeError) throw error;
        if (++failures >= maxAttempts) throw new YahooUnreachableError(causeOf(error as Error));
        await sleep(backoffDelay(failures - 1, 500, 10_000, this.options.random), undefined, { signal });
        continue;
      }
      if (status === 429) {
        const waitMs = this.retryAfterMs(retryAfter);
        this.consecutive429++;
        this.stats.rateLimited++;
        this.stats.retryAfterMs += waitMs;
        // Every request of this limiter waits, not just this one: Yahoo counts per IP.
        this.options.limiter.pauseUntil(Date.now() + waitMs);
        this.options.logger?.warn({ symbol: yahooSymbol, retryAfterMs: waitMs, retryAfter }, 'Yahoo rate limit: pausing requests');
        if (waitMs > this.options.maxRetryWaitMs) throw new YahooApiError(429, null, `rate limited for ${Math.round(waitMs / 1000)} s`);
        continue;
      }
      this.consecutive429 = 0;
      if (status >= 500) {
        this.stats.failures++;
        if (++failures >= maxAttempts) throw new YahooApiError(status, null, text.slice(0, 200));
        await sleep(backoffDelay(failures - 1, 500, 10_000, this.options.random), undefined, { signal });
        continue;
      }
      if (status === 200) return text;
      throw errorFrom(status, text);
    }
  }

  /** Retry-After (seconds or an HTTP date) when sent; otherwise the default, doubled for each 429 in a row. */
  private retryAfterMs(header: string | null): number {
    return parseRetryAfter(header) ?? Math.min(this.options.defaultRetryAfterMs * 2 ** Math.min(this.consecutive429, 6), 10 * 60_000);
  }
}

function errorFrom(status: number, text: string): YahooApiError {
  try {
    const body = JSON.parse(text) as { chart?: { error?: { code?: unknown; description?: unknown } }; finance?: { error?: { code?: unknown; description?: unknown } } };
    const error = body.chart?.error ?? body.finance?.error;
    if (error && typeof error.code === 'string') {
      return new YahooApiError(status, error.code, typeof error.description === 'string' ? error.description : '');
    }
  } catch {
    // not JSON: the status says enough
  }
  return new YahooApiError(status, null, text.slice(0, 200));
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceLogger } from '../source.js';
import { backoffDelay } from '../backoff.js';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { causeOf, HttpBodyTooLargeError, httpGet, parseRetryAfter } from '../kit/http.js';

export type FredErrorKind = 'unknown_series' | 'bad_key' | 'other';

/** FRED answered with an error status (`{"error_code":400,"error_message":"Bad Request.  The series does not exist."}`). */
export class FredApiError extends Error {
  readonly kind: FredErrorKind;

  constructor(
    readonly status: number,
    readonly detail: string,
    kind?: FredErrorKind,
  ) {
    super(`FRED ${status}: ${detail}`);
    this.name = 'FredApiError';
    this.kind = kind ?? (/series does not exist/i.test(detail) ? 'unknown_series' : /api_key/i.test(detail) ? 'bad_key' : 'other');
  }
}

/** No answer at all: connection refused or reset, DNS, or no complete answer before the timeout. */
export class FredUnreachableError extends Error {
  constructor(message: string) {
    super(`FRED unreachable: ${message}`);
    this.name = 'FredUnreachableError';
  }
}

/** Worth asking again later: the network, a 5xx, 423 (Locked), or a rate limit too long to wait in the call. */
export function isTransient(error: unknown): boolean {
  return !(error instanceof FredApiError) || error.status >= 500 || error.status === 429 || error.status === 423;
}

export interface FredClientOptions {
  apiUrl: string;
  graphUrl: string;
  /** Never logged or put in an error: it only rides in the query string. */
  apiKey?: string;
  limiter: RequestWeightLimiter;
  logger?: SourceLogger;
  fetch?: typeof fetch;
  /** Whole request, body included. */
  timeoutMs: number;
  /** A body larger than this fails the call (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** A 429 without Retry-After pauses this long (FRED's limit is per minute). */
  defaultRetryAfterMs: number;
  maxRetryWaitMs: number;
  random?: () => number;
}

export interface FredClientStats {
  requests: number;
  rateLimited: number;
  retryAfterMs: number;
  failures: number;
}

/**
 * GETs of FRED's observations (JSON, with a key) or of fredgraph.csv (keyless), each through the
 * shared limiter. 429 pauses every request of the limiter, then the call asks again; network
 * errors, timeouts and 5xx are retried up to `maxAttempts` with backoff, then thrown.
 */
export class FredClient {
  readonly stats: FredClientStats = { requests: 0, rateLimited: 0, retryAfterMs: 0, failures: 0 };

  constructor(private readonly options: FredClientOptions) {}

  get keyed(): boolean {
    return this.options.apiKey !== undefined;
  }

  /** `series/observations?series_id&api_key&file_type=json&observation_start[&observation_end]&limit&offset`. */
  observationsJson(seriesId: string, range: { start: string; end?: string; offset: number; limit: number }, call: { signal?: AbortSignal; maxAttempts: number }): Promise<string> {
    const params = new URLSearchParams({ series_id: seriesId, api_key: this.options.apiKey ?? '', file_type: 'json', observation_start: range.start });
    if (range.end) params.set('observation_end', range.end);
    params.set('limit', String(range.limit));
    params.set('offset', String(range.offset));
    return this.get(`${this.options.apiUrl.replace(/\/+$/, '')}/series/observations?${params.toString()}`, seriesId, false, call);
  }

  /** `fredgraph.csv?id&cosd[&coed]`: cosd/coed are the chart's start and end dates. */
  graphCsv(seriesId: string, range: { start: string; end?: string }, call: { signal?: AbortSignal; maxAttempts: number }): Promise<string> {
    const params = new URLSearchParams({ id: seriesId, cosd: range.start });
    if (range.end) params.set('coed', range.end);
    return this.get(`${this.options.graphUrl}?${params.toString()}`, seriesId, true, call);
  }

  private async get(url: string, seriesId: string, graph: boolean, { signal, maxAttempts }: { signal?: AbortSignal; maxAttempts: number }): Promise<string> {
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
        });
        status = response.status;
        retryAfter = response.headers.get('retry-after');
        text = response.text;
      } catch (error) {
        signal?.throwIfAborted();
        this.stats.failures++;
        // A body past the cap will not shrink by asking again.
        if (error instanceof HttpBodyTooLargeError) throw error;
        if (++failures >= maxAttempts) throw new FredUnreachableError(causeOf(error as Error));
        await sleep(backoffDelay(failures - 1, 500, 10_000, this.options.random), undefined, { signal });
        continue;
      }
      if (status === 429) {
        const waitMs = parseRetryAfter(retryAfter) ?? this.options.defaultRetryAfterMs;
        this.stats.rateLimited++;
        this.stats.retryAfterMs += waitMs;
        // Every request of this limiter waits: the limit is per key (per IP for fredgraph).
        this.options.limiter.pauseUntil(Date.now() + waitMs);
        this.options.logger?.warn({ series: seriesId, retryAfterMs: waitMs }, 'FRED rate limit: pausing requests');
        if (waitMs > this.options.maxRetryWaitMs) throw new FredApiError(429, `rate limited for ${Math.round(waitMs / 1000)} s`);
        continue;
      }
      if (status >= 500 || status === 423) {
        this.stats.failures++;
        if (++failures >= maxAttempts) throw new FredApiError(status, errorMessage(text));
        await sleep(backoffDelay(failures - 1, 500, 10_000, this.options.random), undefined, { signal });
        continue;
      }
      if (status === 200) return text;
      // fredgraph answers an unknown id with an error page, not FRED's JSON body.
      if (graph && (status === 404 || status === 400)) throw new FredApiError(status, `fredgraph has no series ${seriesId}`, 'unknown_series');
      throw new FredApiError(status, errorMessage(text));
    }
  }
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error_message?: unknown };
    if (typeof body.error_message === 'string') return body.error_message;
  } catch {
    // not JSON: show the start of it
  }
  return text.slice(0, 200);
}

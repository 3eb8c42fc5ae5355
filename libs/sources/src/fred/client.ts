import { causeOf } from '../kit/http.js';
import { PolledRestClient, type PolledRestOptions } from '../kit/rest-client.js';

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

export interface FredClientOptions extends PolledRestOptions {
  apiUrl: string;
  graphUrl: string;
  /** Never logged or put in an error: it only rides in the query string. */
  apiKey?: string;
}

/**
 * GETs of FRED's observations (JSON, with a key) or of fredgraph.csv (keyless), each through the
 * shared limiter. 429 pauses every request of the limiter, then the call asks again; network
 * errors, timeouts and 5xx are retried up to `maxAttempts` with backoff, then thrown.
 */
export class FredClient extends PolledRestClient<FredClientOptions> {
  constructor(options: FredClientOptions) {
    super(options, {
      provider: 'FRED',
      // The limit is per key (per IP for fredgraph).
      // 423 (Locked) is FRED's "try again later".
      retryStatus: (status) => status >= 500 || status === 423,
      // A 429 without Retry-After pauses defaultRetryAfterMs: FRED's limit is per minute.
      defaultPauseMs: () => options.defaultRetryAfterMs,
      unreachable: (error) => new FredUnreachableError(causeOf(error)),
      failed: (answer) => new FredApiError(answer.status, errorMessage(answer.text)),
      rateLimited: (_answer, waitMs) => new FredApiError(429, `rate limited for ${Math.round(waitMs / 1000)} s`),
    });
  }

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
    const { status, text } = await this.client.get(url, { signal, maxAttempts, context: { series: seriesId } });
    if (status === 200) return text;
    // fredgraph answers an unknown id with an error page, not FRED's JSON body.
    if (graph && (status === 404 || status === 400)) throw new FredApiError(status, `fredgraph has no series ${seriesId}`, 'unknown_series');
    throw new FredApiError(status, errorMessage(text));
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

import { backoffDelay } from '../backoff.js';
import { causeOf } from '../kit/http.js';
import { PolledRestClient, restUrl, type PolledRestOptions } from '../kit/rest-client.js';

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

export interface YahooClientOptions extends PolledRestOptions {
  chartUrl: string;
  /** Yahoo answers clients without a browser-like User-Agent with 429 at once. */
  userAgent: string;
}

/**
 * GETs of the chart endpoint through the shared limiter. A 429 pauses every request of the limiter
 * (Yahoo limits by IP, so one symbol's 429 is everyone's), then the call asks again; network errors,
 * timeouts and 5xx are retried up to `maxAttempts` with backoff, then thrown.
 */
export class YahooClient extends PolledRestClient<YahooClientOptions> {
  constructor(options: YahooClientOptions) {
    super(options, {
      provider: 'Yahoo',
      // Without Retry-After: at least the default, doubling for each 429 in a row, at most 10 minutes; the
      // jitter keeps replicas behind one IP from all asking again at the same moment.
      defaultPauseMs: (_answer, inARow) => backoffDelay(inARow, 2 * options.defaultRetryAfterMs, 10 * 60_000, options.random),
      unreachable: (error) => new YahooUnreachableError(causeOf(error)),
      failed: (answer) => new YahooApiError(answer.status, null, answer.text.slice(0, 200)),
      rateLimited: (_answer, waitMs) => new YahooApiError(429, null, `rate limited for ${Math.round(waitMs / 1000)} s`),
    });
  }

  /** The body of `GET {chartUrl}/{symbol}?interval=1m&period1&period2` (seconds), for a 200 only. */
  async chart(yahooSymbol: string, period1: number, period2: number, { signal, maxAttempts }: { signal?: AbortSignal; maxAttempts: number }): Promise<string> {
    const params = { interval: '1m', period1: String(period1), period2: String(period2), includePrePost: 'false' };
    const url = restUrl(this.options.chartUrl, `/${encodeURIComponent(yahooSymbol)}`, params);
    const headers = { 'User-Agent': this.options.userAgent, Accept: 'application/json' };
    const { status, text } = await this.client.get(url, { signal, maxAttempts, headers, context: { symbol: yahooSymbol } });
    if (status === 200) return text;
    throw errorFrom(status, text);
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

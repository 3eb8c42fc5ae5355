import { parse } from 'lossless-json';
import { MAX_RETRY_AFTER_MS, type HttpAnswer } from '../kit/http.js';
import { emptyRestStats, RestClient, restOfMinute, restUrl, type RestClientOptions, type RestStats } from '../kit/rest-client.js';

/** Alpaca answered with an error (`{"code":42210000,"message":"..."}`): retrying the same request will not help. */
export class AlpacaApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    message: string,
  ) {
    super(`Alpaca ${status}${code === null ? '' : ` (${code})`}: ${message}`);
    this.name = 'AlpacaApiError';
  }
}

/** 401/403: the key, the secret or the plan. Names the settings to check, never their values. */
export class AlpacaAuthError extends AlpacaApiError {
  constructor(status: number, code: number | null, message: string, feed: string) {
    super(
      status,
      code,
      `${message} — Alpaca refused the credentials: check ALPACA_KEY_ID and ALPACA_SECRET_KEY` +
        (status === 403 ? `, and that the plan includes the "${feed}" feed (ALPACA_FEED; the free plan has iex only)` : ''),
    );
    this.name = 'AlpacaAuthError';
  }
}

export interface AlpacaRestOptions extends RestClientOptions {
  baseUrl: string;
  keyId: string;
  secretKey: string;
  feed: string;
}

export interface AlpacaRestStats extends RestStats {
  /** The server's X-RateLimit-Remaining on the last answer. */
  lastRemaining: number | null;
}

/** A page of `GET /v2/stocks/trades` or `/v2/stocks/bars`: rows per symbol, numbers as LosslessNumber. */
export interface AlpacaPage {
  rows: Record<string, unknown[]>;
  nextPageToken: string | null;
}

export interface RangeQuery {
  symbols: readonly string[];
  /** RFC 3339; Alpaca's start and end are both inclusive. */
  start: string;
  end: string;
  limit: number;
  pageToken?: string | null;
}

/**
 * The historical market data calls the source needs, each through the shared request limiter
 * (one request = weight 1; Alpaca counts calls per minute per key). A 429 pauses every request of
 * the limiter until Retry-After (or X-RateLimit-Reset, or the next minute) and the call is retried;
 * X-RateLimit-Remaining feeds the limiter so other clients of the same key slow us down too.
 * Bodies are parsed with lossless-json: prices and sizes keep their decimal text.
 */
export class AlpacaRest {
  readonly stats: AlpacaRestStats = { ...emptyRestStats(), lastRemaining: null };
  private readonly client: RestClient;

  constructor(private readonly options: AlpacaRestOptions) {
    this.client = new RestClient(
      {
        ...options,
        provider: 'Alpaca',
        // A page of 10,000 trades is a few MB.
        timeoutMs: options.timeoutMs ?? 15_000,
        defaultPauseMs: (answer, _inARow, now) => untilReset(answer, now) ?? restOfMinute(now),
        // A 429's own count (0 left) is not fed to the limiter: pauseUntil already covers it, and a
        // drained bucket on top would wait again after Retry-After.
        onAnswer: (answer) => {
          if (answer.status !== 429) this.noteRemaining(answer);
        },
        failed: (answer) => new AlpacaApiError(answer.status, null, answer.text.slice(0, 200)),
        rateLimited: (answer, waitMs) => new AlpacaApiError(answer.status, null, `rate limited for ${Math.round(waitMs / 1000)} s`),
      },
      this.stats,
    );
  }

  trades(query: RangeQuery, signal?: AbortSignal): Promise<AlpacaPage> {
    return this.page('/v2/stocks/trades', 'trades', { ...this.rangeParams(query) }, signal);
  }

  bars(query: RangeQuery, signal?: AbortSignal): Promise<AlpacaPage> {
    // adjustment=raw: the prices as traded, the same as the stream's bars.
    return this.page('/v2/stocks/bars', 'bars', { ...this.rangeParams(query), timeframe: '1Min', adjustment: 'raw' }, signal);
  }

  private rangeParams(query: RangeQuery): Record<string, string> {
    const params: Record<string, string> = {
      symbols: query.symbols.join(','),
      start: query.start,
      end: query.end,
      limit: String(query.limit),
      feed: this.options.feed,
      sort: 'asc',
    };
    if (query.pageToken) params.page_token = query.pageToken;
    return params;
  }

  private async page(path: string, key: 'trades' | 'bars', params: Record<string, string>, signal?: AbortSignal): Promise<AlpacaPage> {
    const body = await this.get(path, params, signal);
    const ok = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!ok(body)) throw new AlpacaApiError(200, null, `${path} answered ${Array.isArray(body) ? 'an array' : typeof body}, not an object`);
    const byKey = body[key] ?? {};
    if (!ok(byKey)) throw new AlpacaApiError(200, null, `${path}: "${key}" is not an object of symbols`);
    const rows: Record<string, unknown[]> = {};
    for (const [symbol, list] of Object.entries(byKey)) {
      if (!Array.isArray(list)) throw new AlpacaApiError(200, null, `${path}: ${key}.${symbol} is not an array`);
      rows[symbol] = list;
    }
    const token = body.next_page_token;
    return { rows, nextPageToken: typeof token === 'string' && token.length > 0 ? token : null };
  }

  async get(path: string, params: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
    const headers = { 'APCA-API-KEY-ID': this.options.keyId, 'APCA-API-SECRET-KEY': this.options.secretKey, Accept: 'application/json' };
    const answer = await this.client.get(restUrl(this.options.baseUrl, path, params), { signal, headers, context: { path } });
    const text = answer.text;
    let body: unknown;
    try {
      body = parse(text);
    } catch {
      throw new AlpacaApiError(answer.status, null, `not JSON: ${text.slice(0, 200)}`);
    }
    if (!answer.ok) {
      const error = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; message?: unknown };
      const code = error.code !== undefined && error.code !== null && Number.isSafeInteger(Number(error.code)) ? Number(error.code) : null;
      const message = typeof error.message === 'string' ? error.message : text.slice(0, 200);
      if (answer.status === 401 || answer.status === 403) throw new AlpacaAuthError(answer.status, code, message, this.options.feed);
      throw new AlpacaApiError(answer.status, code, message);
    }
    return body;
  }

  private noteRemaining(response: HttpAnswer): void {
    const remaining = Number(response.headers.get('x-ratelimit-remaining'));
    const limit = Number(response.headers.get('x-ratelimit-limit'));
    if (!response.headers.has('x-ratelimit-remaining') || !Number.isFinite(remaining)) return;
    this.stats.lastRemaining = remaining;
    if (response.headers.has('x-ratelimit-limit') && Number.isFinite(limit) && limit >= remaining) this.options.limiter.reportUsed(limit - remaining);
  }
}

/** Without Retry-After: X-RateLimit-Reset (epoch seconds), when it is ahead. */
function untilReset(answer: HttpAnswer, now: number): number | undefined {
  const reset = Number(answer.headers.get('x-ratelimit-reset'));
  if (answer.headers.has('x-ratelimit-reset') && Number.isFinite(reset) && reset * 1000 > now) return Math.min(MAX_RETRY_AFTER_MS, Math.ceil(reset * 1000 - now));
  return undefined;
}

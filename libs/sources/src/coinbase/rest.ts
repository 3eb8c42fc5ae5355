import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseLossless } from 'lossless-json';
import { backoffDelay } from '../backoff.js';
import { emptyRestStats, RestClient, restUrl, type RestClientOptions, type RestStats } from '../kit/rest-client.js';

/** Coinbase answered with an error body (`{"message":"NotFound"}`): retrying will not help. */
export class CoinbaseApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`Coinbase ${status}: ${message}`);
    this.name = 'CoinbaseApiError';
  }
}

export interface CoinbaseRestOptions extends RestClientOptions {
  baseUrl: string;
  /**
   * Requests are spaced at least this far apart in this process. The limiter holds a minute of
   * budget, which it may spend in one burst; Coinbase counts per second (10/s, bursts of 15).
   */
  minIntervalMs: number;
}

export type CoinbaseRestStats = RestStats;

export interface TradesPage {
  /** Newest first, as Coinbase sends them; numbers parsed losslessly. */
  rows: unknown[];
  /** CB-BEFORE / CB-AFTER cursors (the newest and the oldest trade id of the page), when sent. */
  before: string | null;
  after: string | null;
}

/**
 * The REST calls the source needs, each through the shared limiter and spaced out locally. A 429
 * pauses every request of this limiter for Retry-After (or, without one, a second and growing: the
 * public limit is per second), then the call is retried. Bodies are parsed with lossless-json, since
 * candles carry prices as JSON numbers.
 */
export class CoinbaseRest {
  readonly stats: CoinbaseRestStats = emptyRestStats();
  private nextSlotAt = 0;
  private readonly client: RestClient;

  constructor(private readonly options: CoinbaseRestOptions) {
    this.client = new RestClient({
      ...options,
      provider: 'Coinbase',
      // Without Retry-After: a second, growing while 429s come in a row (the public limit is per second).
      defaultPauseMs: (_answer, inARow) => backoffDelay(inARow, 1000, 30_000),
      pace: (signal) => this.pace(signal),
      failed: (answer) => new CoinbaseApiError(answer.status, answer.text.slice(0, 200)),
      rateLimited: (answer, waitMs) => new CoinbaseApiError(answer.status, `rate limited for ${Math.round(waitMs / 1000)} s (Retry-After)`),
    }, this.stats);
  }

  /**
   * `GET /products/{id}/trades`. `before: id` gives the page of trades just newer than `id`
   * (ids id+1 .. id+limit), `after: id` the page just older; neither, the newest trades.
   * Every page is ordered newest first.
   */
  async trades(productId: string, cursor: { before?: number; after?: number }, limit: number, signal?: AbortSignal): Promise<TradesPage> {
    const params: Record<string, string> = { limit: String(limit) };
    if (cursor.before !== undefined) params.before = String(cursor.before);
    if (cursor.after !== undefined) params.after = String(cursor.after);
    const { body, headers } = await this.get(`/products/${encodeURIComponent(productId)}/trades`, params, signal);
    if (!Array.isArray(body)) throw new CoinbaseApiError(200, `trades answered ${typeof body}, not an array`);
    return { rows: body, before: headers.get('cb-before'), after: headers.get('cb-after') };
  }

  /** `GET /products/{id}/candles?granularity&start&end`: rows `[time, low, high, open, close, volume]`, newest first. */
  async candles(productId: string, granularity: number, start: Date, end: Date, signal?: AbortSignal): Promise<unknown[]> {
    const params = { granularity: String(granularity), start: start.toISOString(), end: end.toISOString() };
    const { body } = await this.get(`/products/${encodeURIComponent(productId)}/candles`, params, signal);
    if (!Array.isArray(body)) throw new CoinbaseApiError(200, `candles answered ${typeof body}, not an array`);
    return body;
  }

  /** Waits for this process's next request slot: at most one request per `minIntervalMs`. */
  private async pace(signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextSlotAt);
    this.nextSlotAt = at + this.options.minIntervalMs;
    if (at > now) await sleep(at - now, undefined, { signal });
  }

  async get(path: string, params: Record<string, string>, signal?: AbortSignal): Promise<{ body: unknown; headers: Headers }> {
    const answer = await this.client.get(restUrl(this.options.baseUrl, path, params), { signal, headers: { Accept: 'application/json' }, context: { path } });
    const text = answer.text;
    let body: unknown;
    try {
      body = parseLossless(text);
    } catch {
      throw new CoinbaseApiError(answer.status, `not JSON: ${text.slice(0, 200)}`);
    }
    if (!answer.ok) {
      const message = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
        ? (body as { message: string }).message
        : text.slice(0, 200);
      throw new CoinbaseApiError(answer.status, message);
    }
    return { body, headers: answer.headers };
  }
}

import { emptyRestStats, RestClient, restOfMinute, restUrl, type RestClientOptions, type RestStats as KitRestStats } from '../kit/rest-client.js';

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

export interface RestOptions extends RestClientOptions {
  baseUrl: string;
}

export interface RestStats extends KitRestStats {
  lastUsedWeight: number | null;
}

/**
 * The few REST calls the source needs, each through the shared weight limiter. 429 and 418 pause
 * every request of this limiter for Retry-After, then the call is retried; the used weight
 * header feeds the limiter so it slows down near the limit.
 */
export class BinanceRest {
  readonly stats: RestStats = { ...emptyRestStats(), lastUsedWeight: null };
  private readonly client: RestClient;

  constructor(private readonly options: RestOptions) {
    this.client = new RestClient(
      {
        ...options,
        provider: 'Binance',
        // 418 is the ban that continuing after a 429 earns.
        rateLimitStatuses: [429, 418],
        // Without Retry-After: the rest of the current minute (429) or two minutes (418).
        defaultPauseMs: (answer, _inARow, now) => (answer.status === 418 ? 120_000 : restOfMinute(now)),
        onAnswer: (answer) => {
          const used = Number(answer.headers.get('x-mbx-used-weight-1m'));
          if (answer.headers.has('x-mbx-used-weight-1m') && Number.isFinite(used)) {
            this.stats.lastUsedWeight = used;
            options.limiter.reportUsed(used);
          }
        },
        failed: (answer) => new BinanceApiError(answer.status, null, answer.text.slice(0, 200)),
        rateLimited: (answer, waitMs) => new BinanceApiError(answer.status, null, `rate limited for ${Math.round(waitMs / 1000)} s (Retry-After)`),
      },
      this.stats,
    );
  }

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
    const answer = await this.client.get(restUrl(this.options.baseUrl, path, params), { signal, weight, context: { path } });
    const text = answer.text;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new BinanceApiError(answer.status, null, `not JSON: ${text.slice(0, 200)}`);
    }
    if (!answer.ok) {
      const error = body as { code?: unknown; msg?: unknown };
      throw new BinanceApiError(answer.status, typeof error.code === 'number' ? error.code : null, typeof error.msg === 'string' ? error.msg : text.slice(0, 200));
    }
    return body;
  }
}

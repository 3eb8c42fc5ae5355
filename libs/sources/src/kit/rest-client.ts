import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceLogger } from '../source.js';
import { backoffDelay } from '../backoff.js';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { HttpBodyTooLargeError, httpGet, parseRetryAfter, type HttpAnswer } from './http.js';

/**
 * The one REST retry loop every provider's client runs its GETs through (the HTTP exchange itself is
 * kit/http.ts). Each try waits for the shared limiter; a rate-limited answer pauses every request of
 * that limiter for Retry-After (seconds or an HTTP date; the provider's own default without one) and
 * asks again, without counting as a try; network errors, timeouts and retryable statuses back off and
 * ask again up to `maxAttempts` tries in all. A body past the cap is never asked for again. What the
 * answer means (JSON, error bodies, paging) stays with the provider.
 */

export interface RestStats {
  requests: number;
  /** Limiter weight spent (a request is 1 where the provider counts requests). */
  weight: number;
  rateLimited: number;
  /** Time paused for rate limits, summed. */
  retryAfterMs: number;
  /** Tries that got no answer, a body past the cap, or a retryable status. */
  failures: number;
}

export const emptyRestStats = (): RestStats => ({ requests: 0, weight: 0, rateLimited: 0, retryAfterMs: 0, failures: 0 });

/** What every provider's REST client is built from; each provider's own options extend it. */
export interface RestClientOptions {
  limiter: RequestWeightLimiter;
  logger?: SourceLogger;
  fetch?: typeof fetch;
  /** One try, body included (default 10 s). */
  timeoutMs?: number;
  /** A body larger than this fails the call (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Tries in all for network errors and retryable statuses; rate limits do not count (default 5; a call may ask for another number). */
  maxAttempts?: number;
  /** A rate-limit pause longer than this fails the call instead of waiting in it: an IP ban, say (default 5 min). */
  maxRetryWaitMs?: number;
  random?: () => number;
}

/** The options of a polled provider's client, whose source always sets its deadline and its rate-limit waits. */
export interface PolledRestOptions extends RestClientOptions {
  /** Whole request, body included. */
  timeoutMs: number;
  /** A 429 without Retry-After pauses at least this long (the provider's policy says how much longer). */
  defaultRetryAfterMs: number;
  maxRetryWaitMs: number;
}

export interface RestPolicy extends RestClientOptions {
  /** Names the provider in log lines (`Binance`). */
  provider: string;
  /** Statuses that mean "slow down" (their bodies are not read); default 429. */
  rateLimitStatuses?: readonly number[];
  /** Statuses worth asking again after a backoff (default: 5xx). */
  retryStatus?(status: number): boolean;
  /** The pause when Retry-After is absent or unreadable; `inARow` counts the rate-limited answers just before this one. */
  defaultPauseMs(answer: HttpAnswer, inARow: number, now: number): number;
  /** Waits after the limiter, before each try (local spacing on top of the shared budget). */
  pace?(signal?: AbortSignal): Promise<void>;
  /** Sees every answer, rate-limited or not (the server's own count of the budget). */
  onAnswer?(answer: HttpAnswer): void;
  /** The error a call ends with when the last try got no answer (default: that error). */
  unreachable?(error: Error): Error;
  /** The error a call ends with when the last try got a retryable status. */
  failed(answer: HttpAnswer): Error;
  /** The error a call ends with when asked to pause longer than maxRetryWaitMs. */
  rateLimited(answer: HttpAnswer, waitMs: number): Error;
}

export interface RestCall {
  signal?: AbortSignal;
  /** Limiter weight of the request (default 1). */
  weight?: number;
  headers?: Record<string, string>;
  maxAttempts?: number;
  /** Added to the rate-limit log line (the path, the symbol). */
  context?: Record<string, unknown>;
}

/**
 * A polled provider's client: its options and policy over the one RestClient, and the counters it
 * keeps. Subclasses add the provider's requests and what their answers mean.
 */
export abstract class PolledRestClient<O extends PolledRestOptions> {
  readonly stats: RestStats = emptyRestStats();
  protected readonly client: RestClient;

  constructor(
    protected readonly options: O,
    policy: Omit<RestPolicy, keyof RestClientOptions>,
  ) {
    this.client = new RestClient({ ...options, ...policy }, this.stats);
  }
}

export class RestClient {
  private rateLimitedInARow = 0;

  constructor(
    private readonly policy: RestPolicy,
    readonly stats: RestStats = emptyRestStats(),
  ) {}

  /** Resolves with the first answer that is neither rate-limited nor retryable, whatever its status. */
  async get(url: string, call: RestCall = {}): Promise<HttpAnswer> {
    const p = this.policy;
    const { signal } = call;
    const weight = call.weight ?? 1;
    const maxAttempts = call.maxAttempts ?? p.maxAttempts ?? 5;
    const maxRetryWaitMs = p.maxRetryWaitMs ?? 300_000;
    const retryStatus = p.retryStatus ?? ((status: number) => status >= 500);
    const rateLimitStatuses = p.rateLimitStatuses ?? [429];
    let failures = 0;
    const backOff = () => sleep(backoffDelay(failures - 1, 500, 10_000, p.random), undefined, { signal });
    for (;;) {
      await p.limiter.acquire(weight, signal);
      await p.pace?.(signal);
      signal?.throwIfAborted();
      this.stats.requests++;
      this.stats.weight += weight;
      let answer: HttpAnswer;
      try {
        // The deadline covers the body too: a server can send headers and then nothing.
        answer = await httpGet(url, {
          timeoutMs: p.timeoutMs ?? 10_000,
          maxBodyBytes: p.maxBodyBytes,
          signal,
          fetch: p.fetch,
          headers: call.headers,
          skipBody: (status) => rateLimitStatuses.includes(status),
        });
      } catch (error) {
        signal?.throwIfAborted();
        this.stats.failures++;
        // A body past the cap will not shrink by asking again.
        if (error instanceof HttpBodyTooLargeError) throw error;
        if (++failures >= maxAttempts) throw p.unreachable ? p.unreachable(error as Error) : error;
        await backOff();
        continue;
      }
      p.onAnswer?.(answer);
      if (rateLimitStatuses.includes(answer.status)) {
        const now = Date.now();
        const waitMs = parseRetryAfter(answer.headers.get('retry-after'), now) ?? p.defaultPauseMs(answer, this.rateLimitedInARow, now);
        this.rateLimitedInARow++;
        this.stats.rateLimited++;
        this.stats.retryAfterMs += waitMs;
        // Every request of this limiter waits, not just this one: the budget is the IP's or the key's.
        p.limiter.pauseUntil(now + waitMs);
        p.logger?.warn({ status: answer.status, ...call.context, retryAfterMs: waitMs }, `${p.provider} rate limit: pausing requests`);
        if (waitMs > maxRetryWaitMs) throw p.rateLimited(answer, waitMs);
        continue;
      }
      this.rateLimitedInARow = 0;
      if (retryStatus(answer.status)) {
        this.stats.failures++;
        if (++failures >= maxAttempts) throw p.failed(answer);
        await backOff();
        continue;
      }
      return answer;
    }
  }
}

/** `base` + `path` + the query, with the base's trailing slashes dropped. */
export function restUrl(base: string, path: string, params: Record<string, string>): string {
  return `${base.replace(/\/+$/, '')}${path}?${new URLSearchParams(params).toString()}`;
}

/** What is left of the current clock minute: the default pause of providers that count per minute. */
export const restOfMinute = (now: number): number => 60_000 - (now % 60_000);

import { describe, expect, it } from 'vitest';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { HttpBodyTooLargeError } from './http.js';
import { RestClient, type RestPolicy } from './rest-client.js';

/** A limiter that never waits and remembers the pauses asked of it. */
function recordingLimiter(): RequestWeightLimiter & { pauses: number[]; weights: number[] } {
  const pauses: number[] = [];
  const weights: number[] = [];
  return { pauses, weights, acquire: async (w) => void weights.push(w), pauseUntil: (until) => void pauses.push(until), reportUsed: () => {} };
}

/** A fetch that plays `answers` in order (an Error is a network failure). */
function scripted(answers: (Error | { status: number; body?: string; headers?: Record<string, string> })[]) {
  const calls: string[] = [];
  const fetch = (async (url: string) => {
    calls.push(url);
    const next = answers.shift();
    if (!next) throw new Error('no more answers scripted');
    if (next instanceof Error) throw next;
    return new Response(next.body ?? '', { status: next.status, headers: next.headers });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}

const policy = (over: Partial<RestPolicy> & Pick<RestPolicy, 'fetch' | 'limiter'>): RestPolicy => ({
  provider: 'Test',
  timeoutMs: 5_000,
  maxAttempts: 3,
  maxRetryWaitMs: 60_000,
  random: () => 0, // the shortest backoff: 250 ms, 500 ms, ...
  rateLimitStatuses: [429],
  defaultPauseMs: (_answer, inARow) => 10 * (inARow + 1),
  failed: (answer) => new Error(`failed ${answer.status}`),
  rateLimited: (_answer, waitMs) => new Error(`rate limited ${waitMs}`),
  ...over,
});

describe('RestClient', () => {
  it('asks again after a 5xx or a network error, up to maxAttempts tries in all, then ends with the provider\'s errors', async () => {
    const limiter = recordingLimiter();
    const { fetch, calls } = scripted([{ status: 502 }, new TypeError('fetch failed'), { status: 200, body: 'ok' }]);
    const client = new RestClient(policy({ fetch, limiter }));
    const answer = await client.get('http://x/a', { weight: 4 });
    expect(answer).toMatchObject({ status: 200, text: 'ok' });
    expect(calls).toHaveLength(3);
    expect(limiter.weights).toEqual([4, 4, 4]);
    expect(client.stats).toEqual({ requests: 3, weight: 12, rateLimited: 0, retryAfterMs: 0, failures: 2 });

    const down = scripted([{ status: 503 }, { status: 500 }, { status: 503, body: 'still down' }]);
    await expect(new RestClient(policy({ fetch: down.fetch, limiter })).get('http://x/b')).rejects.toThrow('failed 503');
    const unreachable = scripted([new TypeError('fetch failed'), new TypeError('fetch failed')]);
    const wrapped = new RestClient(policy({ fetch: unreachable.fetch, limiter, unreachable: (e) => new Error(`unreachable: ${e.message}`) }));
    await expect(wrapped.get('http://x/c', { maxAttempts: 2 })).rejects.toThrow('unreachable: fetch failed');
  });

  it('returns any other status to the provider (a 404 is an answer, not a retry)', async () => {
    const { fetch, calls } = scripted([{ status: 404, body: '{"msg":"no"}' }]);
    expect(await new RestClient(policy({ fetch, limiter: recordingLimiter() })).get('http://x/d')).toMatchObject({ status: 404, text: '{"msg":"no"}' });
    expect(calls).toHaveLength(1);
  });

  it('pauses the whole limiter on a rate limit (Retry-After first, the provider\'s default without one), uncounted as a try', async () => {
    const limiter = recordingLimiter();
    const seen: number[] = [];
    const { fetch } = scripted([
      { status: 429 }, { status: 429 }, { status: 429, headers: { 'Retry-After': '0' } }, { status: 429 }, { status: 200 },
      { status: 429 }, { status: 200 },
    ]);
    const client = new RestClient(policy({ fetch, limiter, maxAttempts: 1, onAnswer: (a) => void seen.push(a.status) }));
    const before = Date.now();
    await client.get('http://x/e');
    expect(seen).toEqual([429, 429, 429, 429, 200]);
    // Defaults grow with the 429s in a row: 10, 20, (Retry-After 0), 40.
    expect(client.stats).toMatchObject({ rateLimited: 4, retryAfterMs: 70, failures: 0 });
    expect(limiter.pauses).toHaveLength(4);
    expect(limiter.pauses.every((at) => at >= before)).toBe(true);
    // An answer that was not rate limited starts the count again.
    await client.get('http://x/f');
    expect(client.stats.retryAfterMs).toBe(80);
  });

  it('fails a call asked to pause longer than maxRetryWaitMs, after pausing the limiter', async () => {
    const limiter = recordingLimiter();
    const { fetch } = scripted([{ status: 418, headers: { 'Retry-After': '7200' } }]);
    const client = new RestClient(policy({ fetch, limiter, rateLimitStatuses: [429, 418] }));
    await expect(client.get('http://x/g')).rejects.toThrow('rate limited 7200000');
    expect(limiter.pauses).toHaveLength(1);
  });

  it('never asks again for a body past the cap', async () => {
    const { fetch, calls } = scripted([{ status: 200, body: 'x'.repeat(100) }, { status: 200 }]);
    const client = new RestClient(policy({ fetch, limiter: recordingLimiter(), maxBodyBytes: 10 }));
    await expect(client.get('http://x/h')).rejects.toBeInstanceOf(HttpBodyTooLargeError);
    expect(calls).toHaveLength(1);
  });
});

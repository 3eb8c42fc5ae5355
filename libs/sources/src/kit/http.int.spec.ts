import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { AlpacaRest } from '../alpaca/rest.js';
import { BinanceRest } from '../binance/rest.js';
import { CoinbaseRest } from '../coinbase/rest.js';
import { FredClient, FredUnreachableError } from '../fred/client.js';
import { YahooClient, YahooUnreachableError } from '../yahoo/client.js';
import { HttpBodyTooLargeError, httpGet, HttpTimeoutError } from './http.js';

/**
 * The kit's GET against a real HTTP server on loopback that misbehaves on purpose, then each
 * provider's REST client against the same server: none of them may hang on a body that stalls.
 */

interface Seen {
  path: string;
  /** The server wrote the headers (and the start of the body). */
  headersSent: boolean;
  /** The client went away: the socket closed before the server ended the response. */
  closedEarly: boolean;
  bytesSent: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

interface TestServer {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Handler): Promise<TestServer> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const entry: Seen = { path: req.url ?? '', headersSent: false, closedEarly: false, bytesSent: 0 };
    seen.push(entry);
    res.on('close', () => {
      if (!res.writableEnded) entry.closedEarly = true;
    });
    handler(req, res, entry);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

/** Headers and the first byte of a JSON array, then nothing, ever. */
const stallBody: Handler = (_req, res, seen) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.write('[', () => (seen.headersSent = true));
};

/** `total` bytes of a JSON string, in chunks, without Content-Length; stops when the client goes. */
function hugeBody(total: number, declareLength = false): Handler {
  return (_req, res, seen) => {
    res.writeHead(200, { 'Content-Type': 'application/json', ...(declareLength ? { 'Content-Length': String(total) } : {}) });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = (): void => {
      while (seen.bytesSent < total && !res.destroyed) {
        const part = chunk.subarray(0, Math.min(chunk.length, total - seen.bytesSent));
        seen.bytesSent += part.length;
        if (!res.write(part)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Rejection of `promise`, failing the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, got an answer');
}

describe('httpGet', () => {
  it('reads a whole answer: status, headers and the body as text', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(418, { 'Content-Type': 'application/json', 'X-Thing': 'yes' });
      res.end('{"é":1}');
    });
    const answer = await httpGet(`${server.url}/teapot`, { timeoutMs: 20_000 });
    expect(answer).toMatchObject({ status: 418, ok: false, text: '{"é":1}' });
    expect(answer.headers.get('x-thing')).toBe('yes');
  });

  it('fails at the deadline when the headers came but the body stalls, and drops the connection', async () => {
    const server = await serve(stallBody);
    const startedAt = Date.now();
    const error = await rejectionOf(httpGet(`${server.url}/stall?api_key=SECRET`, { timeoutMs: 300 }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect(error.message).toBe(`no complete answer in 300 ms (GET ${server.url}/stall)`);
    expect(error.message).not.toContain('SECRET');
    // The body had started: this is the case a timer cleared at the headers never ends.
    expect(server.seen[0]!.headersSent).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    await until(() => server.seen[0]!.closedEarly, 'the client to close the stalled connection');
  });

  it('fails at the deadline when no headers come at all', async () => {
    const server = await serve(() => {});
    const error = await rejectionOf(httpGet(`${server.url}/silent`, { timeoutMs: 300 }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    await until(() => server.seen[0]!.closedEarly, 'the client to close the connection');
  });

  it('cuts off a body past the cap as it streams, naming the URL without its query, and the cap', async () => {
    const total = 64 * 1024 * 1024;
    const server = await serve(hugeBody(total));
    const error = await rejectionOf(httpGet(`${server.url}/huge?api_key=SECRET`, { timeoutMs: 60_000, maxBodyBytes: 1024 * 1024 }));
    expect(error).toBeInstanceOf(HttpBodyTooLargeError);
    expect(error.message).toBe(`body of GET ${server.url}/huge is larger than the cap of 1048576 bytes`);
    await until(() => server.seen[0]!.closedEarly, 'the client to close the connection');
    // Not read whole: the server was stopped far short of the end.
    expect(server.seen[0]!.bytesSent).toBeLessThan(total / 2);
  });

  it('refuses a body whose Content-Length is past the cap without reading it', async () => {
    const total = 64 * 1024 * 1024;
    const server = await serve(hugeBody(total, true));
    const error = await rejectionOf(httpGet(`${server.url}/declared`, { timeoutMs: 60_000, maxBodyBytes: 1024 * 1024 }));
    expect(error).toBeInstanceOf(HttpBodyTooLargeError);
    await until(() => server.seen[0]!.closedEarly, 'the client to close the connection');
    expect(server.seen[0]!.bytesSent).toBeLessThan(total / 2);
  });

  it('reads a body of exactly the cap', async () => {
    const server = await serve(hugeBody(4096));
    const answer = await httpGet(`${server.url}/exact`, { timeoutMs: 20_000, maxBodyBytes: 4096 });
    expect(answer.text).toHaveLength(4096);
  });

  it("aborts with the caller's reason while the body is streaming", async () => {
    const server = await serve(stallBody);
    const caller = new AbortController();
    const reason = new Error('shutting down');
    const pending = rejectionOf(httpGet(`${server.url}/stall`, { timeoutMs: 120_000, signal: caller.signal }));
    await until(() => server.seen[0]?.headersSent === true, 'the server to send the headers');
    caller.abort(reason);
    expect(await pending).toBe(reason);
    await until(() => server.seen[0]!.closedEarly, 'the client to close the connection');
  });

  it("does not start when the caller's signal has already aborted", async () => {
    const server = await serve(stallBody);
    const reason = new Error('gone');
    expect(await rejectionOf(httpGet(`${server.url}/x`, { timeoutMs: 1000, signal: AbortSignal.abort(reason) }))).toBe(reason);
    expect(server.seen).toHaveLength(0);
  });

  it('leaves no listener on a long-lived caller signal', async () => {
    const server = await serve((_req, res) => res.end('[]'));
    const caller = new AbortController();
    let added = 0;
    let removed = 0;
    const add = caller.signal.addEventListener.bind(caller.signal);
    const remove = caller.signal.removeEventListener.bind(caller.signal);
    caller.signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => (added++, add(...args))) as AbortSignal['addEventListener'];
    caller.signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => (removed++, remove(...args))) as AbortSignal['removeEventListener'];
    for (let i = 0; i < 5; i++) await httpGet(`${server.url}/ok`, { timeoutMs: 20_000, signal: caller.signal });
    await rejectionOf(httpGet(`${server.url.replace(/:\d+$/, ':1')}/refused`, { timeoutMs: 20_000, signal: caller.signal }));
    expect(added).toBe(6);
    expect(removed).toBe(6);
  });
});

/** A limiter that never waits and remembers the pauses asked of it. */
function recordingLimiter(): RequestWeightLimiter & { pauses: number[] } {
  const pauses: number[] = [];
  return { pauses, acquire: async () => {}, pauseUntil: (until) => void pauses.push(until), reportUsed: () => {} };
}

interface ProviderCase {
  name: string;
  /** One call of the provider's client at `baseUrl`: at most two attempts, a deadline of `timeoutMs`. */
  client(
    baseUrl: string,
    timeoutMs: number,
    limiter: RequestWeightLimiter,
  ): { run: (signal?: AbortSignal) => Promise<unknown>; stats: { rateLimited: number; retryAfterMs: number } };
  /** The body of a successful answer. */
  okBody: string;
  /** Checks what a call that met a stalled body rejected with. */
  stalled: (error: Error) => void;
}

const PROVIDERS: ProviderCase[] = [
  {
    name: 'binance',
    client: (baseUrl, timeoutMs, limiter) => {
      const rest = new BinanceRest({ baseUrl, limiter, timeoutMs, maxAttempts: 2 });
      return { run: (signal) => rest.aggTrades('BTCUSDT', { fromId: 1, limit: 10 }, signal), stats: rest.stats };
    },
    okBody: '[]',
    stalled: (error) => expect(error).toBeInstanceOf(HttpTimeoutError),
  },
  {
    name: 'coinbase',
    client: (baseUrl, timeoutMs, limiter) => {
      const rest = new CoinbaseRest({ baseUrl, limiter, minIntervalMs: 0, timeoutMs, maxAttempts: 2 });
      return { run: (signal) => rest.trades('BTC-USD', { after: 100 }, 10, signal), stats: rest.stats };
    },
    okBody: '[]',
    stalled: (error) => expect(error).toBeInstanceOf(HttpTimeoutError),
  },
  {
    name: 'alpaca',
    client: (baseUrl, timeoutMs, limiter) => {
      const rest = new AlpacaRest({ baseUrl, keyId: 'KEYID', secretKey: 'SECRETKEY', feed: 'iex', limiter, timeoutMs, maxAttempts: 2 });
      const query = { symbols: ['AAPL'], start: '2025-03-14T13:30:00Z', end: '2025-03-14T14:00:00Z', limit: 10 };
      return { run: (signal) => rest.trades(query, signal), stats: rest.stats };
    },
    okBody: '{"trades":{},"next_page_token":null}',
    stalled: (error) => {
      expect(error).toBeInstanceOf(HttpTimeoutError);
      expect(error.message).not.toContain('SECRETKEY');
    },
  },
  {
    name: 'fred',
    client: (baseUrl, timeoutMs, limiter) => {
      const client = new FredClient({ apiUrl: baseUrl, graphUrl: `${baseUrl}/graph/fredgraph.csv`, apiKey: 'FREDKEY', limiter, timeoutMs, defaultRetryAfterMs: 1000, maxRetryWaitMs: 120_000 });
      return { run: (signal) => client.observationsJson('GDP', { start: '2020-01-01', offset: 0, limit: 10 }, { signal, maxAttempts: 2 }), stats: client.stats };
    },
    okBody: '{"observations":[]}',
    stalled: (error) => {
      expect(error).toBeInstanceOf(FredUnreachableError);
      expect(error.message).toMatch(/^FRED unreachable: no complete answer in 300 ms \(GET http:\/\/127\.0\.0\.1:\d+\/series\/observations\)$/);
    },
  },
  {
    name: 'yahoo',
    client: (baseUrl, timeoutMs, limiter) => {
      const client = new YahooClient({ chartUrl: `${baseUrl}/v8/finance/chart`, limiter, timeoutMs, userAgent: 'test', defaultRetryAfterMs: 1000, maxRetryWaitMs: 120_000 });
      return { run: (signal) => client.chart('AAPL', 1_741_953_600, 1_741_957_200, { signal, maxAttempts: 2 }), stats: client.stats };
    },
    okBody: '{"chart":{"result":[],"error":null}}',
    stalled: (error) => {
      expect(error).toBeInstanceOf(YahooUnreachableError);
      expect(error.message).toMatch(/^Yahoo unreachable: no complete answer in 300 ms/);
    },
  },
];

describe.each(PROVIDERS)('$name REST client through the kit', (provider) => {
  it('gives up on a body that stalls after the headers instead of hanging', async () => {
    const server = await serve(stallBody);
    const error = await rejectionOf(provider.client(server.url, 300, recordingLimiter()).run());
    provider.stalled(error);
    // Both attempts were made, both bodies had started, both connections were dropped.
    expect(server.seen).toHaveLength(2);
    expect(server.seen.every((s) => s.headersSent)).toBe(true);
    await until(() => server.seen.every((s) => s.closedEarly), 'the client to close both connections');
  });

  it('fails on a body past the default cap without asking again', async () => {
    const server = await serve(hugeBody(64 * 1024 * 1024));
    const error = await rejectionOf(provider.client(server.url, 60_000, recordingLimiter()).run());
    expect(error).toBeInstanceOf(HttpBodyTooLargeError);
    expect(error.message).toMatch(/larger than the cap of 33554432 bytes/);
    expect(error.message).not.toMatch(/FREDKEY|SECRETKEY|api_key/);
    expect(server.seen).toHaveLength(1);
  });

  it('pauses the shared limiter until the HTTP date of a 429 Retry-After, then asks again', async () => {
    let calls = 0;
    const server = await serve((_req, res) => {
      if (calls++ === 0) {
        res.writeHead(429, { 'Retry-After': new Date(Date.now() + 30_000).toUTCString() });
        res.end('{"message":"slow down"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(provider.okBody);
    });
    const limiter = recordingLimiter();
    const { run, stats } = provider.client(server.url, 20_000, limiter);
    const before = Date.now();
    await run();
    expect(stats.rateLimited).toBe(1);
    // Up to 30 s (the date has whole seconds); the lower bound leaves a busy machine 15 s.
    expect(stats.retryAfterMs).toBeGreaterThan(15_000);
    expect(stats.retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(limiter.pauses).toHaveLength(1);
    expect(limiter.pauses[0]! - before).toBeGreaterThan(15_000);
    expect(server.seen).toHaveLength(2);
  });

  it("stops at once when the caller's signal aborts during a stalled body", async () => {
    const server = await serve(stallBody);
    const caller = new AbortController();
    const reason = new Error('stopping');
    const pending = rejectionOf(provider.client(server.url, 120_000, recordingLimiter()).run(caller.signal));
    await until(() => server.seen[0]?.headersSent === true, 'the server to send the headers');
    caller.abort(reason);
    expect(await pending).toBe(reason);
    expect(server.seen).toHaveLength(1);
    await until(() => server.seen[0]!.closedEarly, 'the client to close the connection');
  });
});

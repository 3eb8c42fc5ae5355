import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeAlpaca, type FakeAlpaca, type FakeAlpacaOptions } from './alpaca.js';
import { fetchJson, shape } from './contract-testing.js';

/**
 * Contract: what the fake sends has the shape (keys and value types) of Alpaca's documented examples
 * (../shared/reference/feeds.md; docs.alpaca.markets: streaming-market-data, real-time stock pricing
 * data, historical stock data). Adapters tested against the fake then parse the real thing.
 */
const DOCUMENTED = {
  // Real-time stock data: trade schema.
  trade: { T: 't', i: 96921, S: 'AAPL', x: 'D', p: 126.55, s: 1, t: '2021-02-22T15:51:44.208Z', c: ['@', 'I'], z: 'C' },
  // Real-time stock data: bar schema (minute bars, and updatedBars with T "u").
  bar: { T: 'b', S: 'SPY', o: 388.985, h: 389.13, l: 388.975, c: 389.12, v: 49378, t: '2021-02-22T19:15:00Z', n: 461, vw: 389.062639 },
  // Streaming market data: subscription acknowledgement (the full current subscription).
  subscription: {
    T: 'subscription', trades: ['AAPL'], quotes: ['AMD', 'CLDR'], bars: ['*'], updatedBars: [], dailyBars: ['VOO'], statuses: ['*'], lulds: [],
    corrections: ['AAPL'], cancelErrors: ['AAPL'],
  },
  // Streaming market data: control messages.
  connected: { T: 'success', msg: 'connected' },
  error: { T: 'error', code: 406, msg: 'connection limit exceeded' },
  // Historical stock data: GET /v2/stocks/trades and /v2/stocks/bars rows.
  tradeRow: { t: '2022-01-03T09:00:00.086175744Z', x: 'P', p: 178.26, s: 246, c: ['@', 'T'], i: 1, z: 'C' },
  barRow: { t: '2022-01-03T09:00:00Z', o: 178.26, h: 178.26, l: 178.21, c: 178.21, v: 1118, n: 65, vw: 178.235733 },
};

let fake: FakeAlpaca | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const FAST: FakeAlpacaOptions = { seed: 5, symbols: ['AAPL', 'MSFT'], tradesPerSecond: 20, historyMs: 120_000, barIntervalMs: 500, correctionDelayMs: 300, lateTradeShare: 0.2 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Client {
  ws: WebSocket;
  /** Every frame as text, and every message of every frame. */
  frames: string[];
  messages: Record<string, unknown>[];
  closed: Promise<number>;
  send(message: object): void;
  /** Resolves with the first matching message received from now on. */
  next(match: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

async function connect(server: FakeAlpaca, feed = 'iex'): Promise<Client> {
  const ws = new WebSocket(`${server.wsUrl}/${feed}`);
  const frames: string[] = [];
  const messages: Record<string, unknown>[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('message', (data) => {
    const text = data.toString();
    frames.push(text);
    messages.push(...(JSON.parse(text) as Record<string, unknown>[]));
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const client: Client = {
    ws,
    frames,
    messages,
    closed,
    send: (message) => ws.send(JSON.stringify(message)),
    async next(match, timeoutMs = 3000) {
      const from = messages.length;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.slice(from).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(messages.slice(-5))}`);
        await sleep(10);
      }
    },
  };
  return client;
}

async function authenticated(server: FakeAlpaca, feed = 'iex'): Promise<Client> {
  const client = await connect(server, feed);
  const auth = client.next((m) => m.T === 'success' && m.msg === 'authenticated');
  client.send({ action: 'auth', key: server.keyId, secret: server.secretKey });
  await auth;
  return client;
}

const get = (path: string, headers: Record<string, string> = { 'APCA-API-KEY-ID': fake!.keyId, 'APCA-API-SECRET-KEY': fake!.secretKey }) =>
  fetchJson<Record<string, unknown>>(`${fake!.restUrl}${path}`, { headers });

describe('fake Alpaca speaks the documented wire formats', () => {
  it('stream: welcome, auth, subscription, then trade and bar arrays with numbers as JSON numbers', async () => {
    fake = await startFakeAlpaca({ ...FAST, lateTradeShare: 0 });
    const client = await connect(fake);
    for (let waited = 0; client.messages.length === 0 && waited < 2000; waited += 10) await sleep(10);
    expect(client.messages[0]).toEqual(DOCUMENTED.connected);
    expect(client.frames[0]).toBe('[{"T":"success","msg":"connected"}]');
    const ack = client.next((m) => m.T === 'success' && m.msg === 'authenticated');
    client.send({ action: 'auth', key: fake.keyId, secret: fake.secretKey });
    await ack;
    const subscribed = client.next((m) => m.T === 'subscription');
    client.send({ action: 'subscribe', trades: ['AAPL'], bars: ['AAPL', 'MSFT'], updatedBars: ['AAPL'] });
    const subscription = await subscribed;
    expect(shape(subscription)).toEqual(shape({ ...DOCUMENTED.subscription, quotes: [], updatedBars: ['AAPL'], dailyBars: [], statuses: [] }));
    expect(subscription).toMatchObject({ trades: ['AAPL'], bars: ['AAPL', 'MSFT'], updatedBars: ['AAPL'], corrections: ['AAPL'], cancelErrors: ['AAPL'] });

    const trade = await client.next((m) => m.T === 't');
    const bar = await client.next((m) => m.T === 'b' && m.S === 'MSFT', 2000);
    client.ws.close();
    expect(shape(trade)).toEqual(shape(DOCUMENTED.trade));
    expect(trade.S).toBe('AAPL');
    expect(String(trade.t)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(shape(bar)).toEqual(shape(DOCUMENTED.bar));
    // The interval start; whole minutes print as `...:00Z`, test intervals of 500 ms keep their milliseconds.
    expect(String(bar.t)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    expect(Date.parse(String(bar.t)) % 500).toBe(0);
    // Every frame is an array; prices and sizes are JSON numbers (not strings) on the wire.
    for (const frame of client.frames) expect(frame.startsWith('[')).toBe(true);
    const tradeFrame = client.frames.find((f) => f.includes('"T":"t"'))!;
    expect(tradeFrame).toMatch(/"p":\d+(\.\d+)?,"s":\d+,/);
    // Only subscribed symbols: trades of AAPL only.
    expect(new Set(client.messages.filter((m) => m.T === 't').map((m) => m.S))).toEqual(new Set(['AAPL']));
  });

  it('writes some prices with a trailing zero, and the text survives on the wire', async () => {
    fake = await startFakeAlpaca({ ...FAST, trailingZeroShare: 0.5 });
    const to = Date.now() - 1000;
    const trades = fake.trades('AAPL', to - 30_000, to);
    const padded = trades.filter((t) => /\.\d*0$/.test(t.price));
    expect(padded.length).toBeGreaterThan(10);
    const response = await get(`/v2/stocks/trades?symbols=AAPL&start=${new Date(to - 30_000).toISOString()}&end=${new Date(to).toISOString()}&limit=10000&feed=iex`);
    for (const t of padded.slice(0, 10)) expect(response.text).toContain(`"p":${t.price},"s":${t.size},`);
  });

  it('answers auth and subscription errors like Alpaca', async () => {
    fake = await startFakeAlpaca({ ...FAST, maxTradeSymbols: 1, feeds: ['iex'] });
    // Wrong secret: 402 auth failed, then the connection is closed.
    const wrong = await connect(fake);
    const failed = wrong.next((m) => m.T === 'error');
    wrong.send({ action: 'auth', key: fake.keyId, secret: 'nope' });
    expect(await failed).toEqual({ T: 'error', code: 402, msg: 'auth failed' });
    await wrong.closed;
    expect(fake.stats.authFailures).toBe(1);

    // Subscribing before auth: 401; bad JSON: 400.
    const early = await connect(fake);
    const notAuth = early.next((m) => m.T === 'error');
    early.send({ action: 'subscribe', trades: ['AAPL'] });
    expect(await notAuth).toEqual({ T: 'error', code: 401, msg: 'not authenticated' });
    const syntax = early.next((m) => m.T === 'error');
    early.ws.send('{nope');
    expect(await syntax).toEqual({ T: 'error', code: 400, msg: 'invalid syntax' });
    early.ws.close();

    // Over the symbol limit: 405 and nothing changes.
    const first = await authenticated(fake);
    const limit = first.next((m) => m.T === 'error');
    first.send({ action: 'subscribe', trades: ['AAPL', 'MSFT'] });
    const error405 = await limit;
    expect(shape(error405)).toEqual(shape(DOCUMENTED.error));
    expect(error405).toEqual({ T: 'error', code: 405, msg: 'symbol limit exceeded' });
    const ok = first.next((m) => m.T === 'subscription');
    first.send({ action: 'subscribe', trades: ['AAPL'], bars: ['AAPL', 'MSFT'] });
    expect(await ok).toMatchObject({ trades: ['AAPL'], bars: ['AAPL', 'MSFT'] });

    // A second connection with the same key: 406, closed.
    const second = await connect(fake);
    const limited = second.next((m) => m.T === 'error');
    second.send({ action: 'auth', key: fake.keyId, secret: fake.secretKey });
    expect(await limited).toEqual(DOCUMENTED.error);
    await second.closed;
    first.ws.close();
    await first.closed;

    // A feed the plan does not include: 409 at auth.
    const sip = await connect(fake, 'sip');
    const insufficient = sip.next((m) => m.T === 'error');
    sip.send({ action: 'auth', key: fake.keyId, secret: fake.secretKey });
    expect(await insufficient).toEqual({ T: 'error', code: 409, msg: 'insufficient subscription' });
    await sip.closed;

    // A key that becomes valid works from the next auth on.
    fake.controls.setCredentials({ secretKey: 'rotated' });
    const rotated = await connect(fake);
    const welcome = rotated.next((m) => m.T === 'success' && m.msg === 'authenticated');
    rotated.send({ action: 'auth', key: fake.keyId, secret: 'rotated' });
    await welcome;
    rotated.ws.close();
  });

  it('bars are the aggregation of trades; a late trade brings an updatedBars correction that REST then serves', async () => {
    fake = await startFakeAlpaca(FAST);
    const client = await authenticated(fake);
    const subscribed = client.next((m) => m.T === 'subscription');
    client.send({ action: 'subscribe', trades: ['AAPL'], bars: ['AAPL'], updatedBars: ['AAPL'] });
    await subscribed;
    // Bars pushed before the server took the subscription never reach this client; the reply bounds that moment.
    const subscribedAt = Date.now();
    // Until a few bars and a correction of one of them arrived (late trades are random; a loaded machine is slow).
    const matched = () => {
      const seenBars = client.messages.filter((m) => m.T === 'b');
      return seenBars.length >= 4 && client.messages.some((m) => m.T === 'u' && seenBars.some((b) => b.t === m.t));
    };
    for (let waited = 0; !matched() && waited < 15_000; waited += 100) await sleep(100);
    client.ws.close();
    const bars = client.messages.filter((m) => m.T === 'b');
    const corrections = client.messages.filter((m) => m.T === 'u');
    expect(bars.length).toBeGreaterThanOrEqual(4);
    expect(corrections.filter((u) => bars.some((b) => b.t === u.t)).length).toBeGreaterThanOrEqual(1);
    const view = (m: Record<string, unknown>) => ({ t: m.t, o: String(m.o), h: String(m.h), l: String(m.l), c: String(m.c), v: String(m.v), n: m.n });
    const expected = (b: { t: string; o: string; h: string; l: string; c: string; v: string; n: number }) => ({
      t: b.t, o: String(Number(b.o)), h: String(Number(b.h)), l: String(Number(b.l)), c: String(Number(b.c)), v: b.v, n: b.n,
    });
    for (const bar of bars) {
      const open = Date.parse(String(bar.t));
      // The bar sent at close: the trades visible then (not the late ones).
      const [truth] = fake.bars('AAPL', open, open + 500, open + 500 + 50);
      expect(view(bar), String(bar.t)).toEqual(expected(truth!));
    }
    for (const correction of corrections) {
      expect(shape(correction)).toEqual(shape({ ...DOCUMENTED.bar, T: 'u' }));
      const open = Date.parse(String(correction.t));
      const original = bars.find((b) => b.t === correction.t);
      if (!original) {
        // Either the bar was pushed before this client subscribed, or every trade of its interval was
        // late, so there was no bar at close and the correction is the first the stream says of it.
        const atClose = fake.bars('AAPL', open, open + 500, open + 500 + 50);
        if (atClose.length > 0) expect(open + 500 + 50).toBeLessThanOrEqual(subscribedAt + 50);
        continue;
      }
      expect(Number(correction.n)).toBeGreaterThan(Number(original.n));
      const [truth] = fake.bars('AAPL', open, open + 500);
      expect(view(correction)).toEqual(expected(truth!));
      // The late trade itself came on the trade stream, after the bar.
      const late = fake.trades('AAPL', open, open + 500).filter((t) => t.late);
      expect(late.length).toBeGreaterThan(0);
      for (const t of late) expect(client.messages.some((m) => m.T === 't' && m.i === t.id && m.x === t.exchange && m.t === t.timestamp)).toBe(true);
      // REST serves the corrected values.
      const rest = await get(`/v2/stocks/bars?symbols=AAPL&timeframe=1Min&start=${String(correction.t)}&end=${String(correction.t)}&feed=iex`);
      const [row] = (rest.body.bars as Record<string, Record<string, unknown>[]>).AAPL!;
      expect(shape(row)).toEqual(shape(DOCUMENTED.barRow));
      expect(view(row!)).toEqual(view(correction));
    }
  });

  it('REST trades and bars: documented rows, page tokens over the whole window, key headers, rate limits', async () => {
    fake = await startFakeAlpaca({ ...FAST, requestsPerMinute: 1000 });
    const to = Date.now() - 2000;
    const from = to - 20_000;
    const range = `start=${new Date(from).toISOString()}&end=${new Date(to).toISOString()}&feed=iex`;
    const first = await get(`/v2/stocks/trades?symbols=AAPL,MSFT&${range}&limit=50`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('1000');
    const firstRows = (first.body.trades as Record<string, unknown[]>).AAPL!;
    expect(firstRows.length).toBe(50);
    expect(shape(firstRows[0])).toEqual(shape(DOCUMENTED.tradeRow));
    expect(typeof first.body.next_page_token).toBe('string');

    // Paging to the end gives exactly the fake's trades of both symbols, sorted by symbol then time.
    const got: string[] = [];
    let token: unknown = null;
    let pages = 0;
    do {
      const page = await get(`/v2/stocks/trades?symbols=MSFT,AAPL&${range}&limit=100${token ? `&page_token=${String(token)}` : ''}`);
      for (const [symbol, rows] of Object.entries(page.body.trades as Record<string, { t: string; x: string; i: number }[]>)) {
        for (const row of rows) got.push(`${symbol} ${row.t} ${row.x}-${row.i}`);
      }
      token = page.body.next_page_token;
      pages++;
    } while (token);
    // Alpaca's `end` is inclusive at nanoseconds, so a trade later inside the millisecond `to` is outside.
    const endNs = BigInt(to) * 1_000_000n;
    const truth = ['AAPL', 'MSFT'].flatMap((s) =>
      fake!.trades(s, from, to + 1).filter((t) => t.ns <= endNs).map((t) => `${s} ${t.timestamp} ${t.exchange}-${t.id}`),
    );
    expect(pages).toBeGreaterThan(3);
    expect(got).toEqual(truth);

    const bars = await get(`/v2/stocks/bars?symbols=AAPL&timeframe=1Min&${range}&limit=10`);
    const barRows = (bars.body.bars as Record<string, unknown[]>).AAPL!;
    expect(barRows.length).toBe(10);
    for (const row of barRows) expect(shape(row)).toEqual(shape(DOCUMENTED.barRow));
    expect(typeof bars.body.next_page_token).toBe('string');

    // Errors: no key, a bad timeframe, a feed outside the plan.
    const anonymous = await get(`/v2/stocks/trades?symbols=AAPL&${range}`, {});
    expect(anonymous.status).toBe(401);
    expect(shape(anonymous.body)).toEqual({ code: 'number', message: 'string' });
    expect((await get(`/v2/stocks/bars?symbols=AAPL&timeframe=7Min&${range}`)).status).toBe(422);
    expect((await get(`/v2/stocks/trades?symbols=AAPL&start=${new Date(from).toISOString()}&feed=opra`)).status).toBe(403);

    // 429 with Retry-After and the X-RateLimit headers.
    fake.controls.force429({ retryAfterSeconds: 2, count: 1 });
    const limited = await get(`/v2/stocks/trades?symbols=AAPL&${range}`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect((await get(`/v2/stocks/trades?symbols=AAPL&${range}&limit=1`)).status).toBe(200);
  });

  it('answers 429 past the per-minute request budget', async () => {
    fake = await startFakeAlpaca({ ...FAST, requestsPerMinute: 3 });
    // The budget is per calendar minute: keep the requests inside one.
    if (Date.now() % 60_000 > 58_000) await sleep(60_000 - (Date.now() % 60_000) + 50);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('/v2/stocks/trades?symbols=AAPL&limit=1&feed=iex')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('makes trades a pure function of seed, symbol and time, and trades only while the market is open', async () => {
    const a = await startFakeAlpaca({ seed: 3, symbols: ['AAPL'], historyMs: 60_000 });
    const b = await startFakeAlpaca({ seed: 3, symbols: ['AAPL'], historyMs: 120_000 });
    const c = await startFakeAlpaca({ seed: 4, symbols: ['AAPL'], historyMs: 60_000 });
    const closed = await startFakeAlpaca({ seed: 3, symbols: ['AAPL'], historyMs: 60_000, isOpen: () => false });
    try {
      const to = Math.floor(Date.now() / 1000) * 1000;
      const strip = (trades: { timestamp: string; price: string; size: string; id: number; exchange: string }[]) =>
        trades.map(({ timestamp, price, size, id, exchange }) => ({ timestamp, price, size, id, exchange }));
      const ta = a.trades('AAPL', to - 30_000, to);
      expect(ta.length).toBeGreaterThan(50);
      expect(strip(b.trades('AAPL', to - 30_000, to))).toEqual(strip(ta));
      expect(strip(c.trades('AAPL', to - 30_000, to))).not.toEqual(strip(ta));
      expect(closed.trades('AAPL', to - 30_000, to)).toEqual([]);
      // (exchange, id) is unique: ids are per exchange on Alpaca.
      expect(new Set(ta.map((t) => `${t.exchange}-${t.id}`)).size).toBe(ta.length);
    } finally {
      await Promise.all([a.close(), b.close(), c.close(), closed.close()]);
    }
  });
});

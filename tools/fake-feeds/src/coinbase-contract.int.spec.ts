import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeCoinbase, type FakeCoinbase } from './coinbase.js';
import { expectSeededTrades, fetchJson, shape } from './contract-testing.js';

/**
 * Contract: what the fake sends has the shape (keys and value types) of Coinbase Exchange's
 * documented examples (../shared/reference/feeds.md; docs.cdp.coinbase.com/exchange: websocket
 * channels, REST products trades and candles, pagination). Adapters tested against the fake then
 * parse the real thing.
 */
const DOCUMENTED = {
  // websocket channels: matches channel (last_match has the same fields).
  match: {
    type: 'match', trade_id: 10, sequence: 50, maker_order_id: 'ac928c66-ca53-498f-9c13-a110027a60e8', taker_order_id: '132fb6ae-456b-4654-b4e0-d681ac05cea1',
    time: '2014-11-07T08:19:27.028459Z', product_id: 'BTC-USD', size: '5.23512', price: '400.23', side: 'sell',
  },
  // websocket channels: heartbeat channel.
  heartbeat: { type: 'heartbeat', sequence: 90, last_trade_id: 20, product_id: 'BTC-USD', time: '2014-11-07T08:19:28.464459Z' },
  // websocket overview: subscriptions reply.
  subscriptions: { type: 'subscriptions', channels: [{ name: 'matches', product_ids: ['BTC-USD'] }] },
  // websocket overview: error message.
  error: { type: 'error', message: 'error message' },
  // REST: Get product trades.
  tradeRow: { time: '2014-11-07T22:19:28.578544Z', trade_id: 74, price: '10.00000000', size: '0.01000000', side: 'buy' },
  // REST: Get product candles ([time, low, high, open, close, volume]).
  candleRow: [1415398768, 0.32, 4.2, 0.35, 4.2, 12.3],
  // REST: errors.
  errorBody: { message: 'NotFound' },
};

let fake: FakeCoinbase | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const get = (path: string) => fetchJson(`${fake!.restUrl}${path}`);

/** Opens the feed, sends `subscribe`, collects messages until `done` says so (or 5 s pass). */
async function collect(subscribe: unknown, done: (messages: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]> {
  const ws = new WebSocket(fake!.wsUrl);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify(subscribe));
  for (let waited = 0; !done(messages) && waited < 5000; waited += 25) await new Promise((resolve) => setTimeout(resolve, 25));
  ws.close();
  return messages;
}

const ofType = (messages: Record<string, unknown>[], type: string) => messages.filter((m) => m.type === type);

describe('fake Coinbase speaks the documented wire formats', () => {
  it('subscriptions, last_match first, then matches and heartbeats every interval', async () => {
    fake = await startFakeCoinbase({ products: ['BTC-USD', 'ETH-USD'], tradesPerSecond: 20, historyMs: 60_000, heartbeatIntervalMs: 200 });
    const messages = await collect(
      { type: 'subscribe', product_ids: ['BTC-USD', 'ETH-USD'], channels: ['matches', 'heartbeat'] },
      (m) => ofType(m, 'heartbeat').length >= 6 && ofType(m, 'match').length >= 10,
    );
    expect(messages[0]).toEqual({
      type: 'subscriptions',
      channels: [{ name: 'matches', product_ids: ['BTC-USD', 'ETH-USD'] }, { name: 'heartbeat', product_ids: ['BTC-USD', 'ETH-USD'] }],
    });
    const { channels, ...rest } = messages[0] as { channels: unknown[] };
    expect(shape(rest, 'every')).toEqual(shape({ type: DOCUMENTED.subscriptions.type }, 'every'));
    for (const channel of channels) expect(shape({ ...(channel as object), product_ids: ['x'] }, 'every')).toEqual(shape(DOCUMENTED.subscriptions.channels[0], 'every'));
    const lastMatches = ofType(messages, 'last_match');
    expect(lastMatches.map((m) => m.product_id)).toEqual(['BTC-USD', 'ETH-USD']);
    expect(messages.slice(1, 3)).toEqual(lastMatches); // sent right after subscribing
    for (const m of [...lastMatches, ...ofType(messages, 'match')]) expect(shape(m, 'every')).toEqual(shape({ ...DOCUMENTED.match, type: m.type }, 'every'));
    for (const m of ofType(messages, 'heartbeat')) expect(shape(m, 'every')).toEqual(shape(DOCUMENTED.heartbeat, 'every'));

    const btc = [...lastMatches, ...ofType(messages, 'match')].filter((m) => m.product_id === 'BTC-USD');
    const ids = btc.map((m) => m.trade_id as number);
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i)); // one id per trade, no hole
    const sequences = btc.map((m) => m.sequence as number);
    for (let i = 1; i < sequences.length; i++) expect(sequences[i]!).toBeGreaterThan(sequences[i - 1]!);
    expect(btc[0]!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(btc[0]!.price).toMatch(/^\d+\.\d{2}$/);
    expect(btc[0]!.size).toMatch(/^\d+\.\d{8}$/);
    // A heartbeat names the newest trade delivered before it.
    const beat = ofType(messages, 'heartbeat').filter((m) => m.product_id === 'BTC-USD').at(-1)!;
    const before = btc.filter((m) => messages.indexOf(m) < messages.indexOf(beat)).at(-1)!;
    expect(beat.last_trade_id).toBe(before.trade_id);
    expect(beat.sequence).toBe(before.sequence);
  });

  it('refuses a subscription naming an unknown product or channel with an error message', async () => {
    fake = await startFakeCoinbase({ products: ['BTC-USD'], historyMs: 60_000 });
    const unknownProduct = await collect({ type: 'subscribe', product_ids: ['BTC-USD', 'XRP-USD'], channels: ['matches'] }, (m) => m.length >= 1);
    expect(unknownProduct[0]).toEqual({ type: 'error', message: 'Failed to subscribe', reason: 'XRP-USD is not a valid product' });
    expect(shape({ type: unknownProduct[0]!.type, message: unknownProduct[0]!.message }, 'every')).toEqual(shape(DOCUMENTED.error, 'every'));
    const unknownChannel = await collect({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level9'] }, (m) => m.length >= 1);
    expect(unknownChannel[0]).toMatchObject({ type: 'error', message: 'Failed to subscribe' });
    // Channel objects with their own product ids are accepted too.
    const objects = await collect({ type: 'subscribe', channels: [{ name: 'heartbeat', product_ids: ['BTC-USD'] }] }, (m) => m.length >= 1);
    expect(objects[0]).toEqual({ type: 'subscriptions', channels: [{ name: 'heartbeat', product_ids: ['BTC-USD'] }] });
  });

  it('pages trades newest first with before/after cursors and CB-BEFORE / CB-AFTER headers', async () => {
    fake = await startFakeCoinbase({ products: ['BTC-USD'], tradesPerSecond: 5, historyMs: 10 * 60_000 });
    const newest = await get('/products/BTC-USD/trades?limit=5');
    expect(newest.status).toBe(200);
    const rows = newest.body as { trade_id: number }[];
    expect(rows.length).toBe(5);
    for (const row of rows) expect(shape(row, 'every')).toEqual(shape(DOCUMENTED.tradeRow, 'every'));
    const top = rows[0]!.trade_id;
    expect(rows.map((r) => r.trade_id)).toEqual([top, top - 1, top - 2, top - 3, top - 4]);
    expect(newest.headers.get('cb-before')).toBe(String(top));
    expect(newest.headers.get('cb-after')).toBe(String(top - 4));

    // after = older than the cursor; before = the page just newer than the cursor (still newest first).
    const older = await get(`/products/BTC-USD/trades?limit=3&after=${top - 4}`);
    expect((older.body as { trade_id: number }[]).map((r) => r.trade_id)).toEqual([top - 5, top - 6, top - 7]);
    const newer = await get(`/products/BTC-USD/trades?limit=3&before=${top - 10}`);
    expect((newer.body as { trade_id: number }[]).map((r) => r.trade_id)).toEqual([top - 7, top - 8, top - 9]);
    expect(newer.headers.get('cb-before')).toBe(String(top - 7));
    const beyond = await get(`/products/BTC-USD/trades?before=${top + 1000}`);
    expect(beyond.body).toEqual([]);

    const missing = await get('/products/XRP-USD/trades');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual(DOCUMENTED.errorBody);
  });

  it('serves candles as JSON numbers, newest first, computed from its own trades', async () => {
    fake = await startFakeCoinbase({ products: ['BTC-USD'], tradesPerSecond: 5, historyMs: 30 * 60_000 });
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const start = new Date(minute - 10 * 60_000).toISOString();
    const end = new Date(minute - 60_000).toISOString();
    const candles = await get(`/products/BTC-USD/candles?granularity=60&start=${start}&end=${end}`);
    expect(candles.status).toBe(200);
    const rows = candles.body as number[][];
    expect(rows.length).toBe(10); // both ends inclusive
    for (const row of rows) expect(shape(row, 'every')).toEqual(shape(DOCUMENTED.candleRow, 'every'));
    expect(candles.text).not.toMatch(/"/); // numbers, not strings
    expect(rows.map((r) => r[0])).toEqual(rows.map((_, i) => (minute - 60_000) / 1000 - 60 * i));
    const [time, low, high, open, close, volume] = rows[0]!;
    const trades = fake.trades('BTC-USD', time! * 1000, time! * 1000 + 60_000);
    expect(trades.length).toBeGreaterThan(0);
    expect(open).toBe(Number(trades[0]!.price));
    expect(close).toBe(Number(trades.at(-1)!.price));
    expect(high).toBe(Math.max(...trades.map((t) => Number(t.price))));
    expect(low).toBe(Math.min(...trades.map((t) => Number(t.price))));
    expect(volume).toBeCloseTo(trades.reduce((sum, t) => sum + Number(t.size), 0), 7);

    const tooMany = await get(`/products/BTC-USD/candles?granularity=60&start=${new Date(minute - 400 * 60_000).toISOString()}&end=${end}`);
    expect(tooMany.status).toBe(400);
    expect(shape(tooMany.body, 'every')).toEqual(shape(DOCUMENTED.errorBody, 'every'));
    expect((await get('/products/BTC-USD/candles?granularity=61')).body).toEqual({ message: 'Unsupported granularity' });
  });

  it('answers 429 with Retry-After past the public rate limit', async () => {
    fake = await startFakeCoinbase({ products: ['BTC-USD'], historyMs: 60_000, requestsPerSecond: 2, burst: 3 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    let body: unknown;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${fake.restUrl}/products/BTC-USD/trades?limit=1`);
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter ??= response.headers.get('retry-after');
        body ??= await response.json();
      } else await response.body?.cancel();
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(body).toEqual({ message: 'Public rate limit exceeded' });
  });

  it('makes trades a pure function of seed, product and time', async () => {
    await expectSeededTrades(
      (seed, historyMs) => startFakeCoinbase({ seed, products: ['BTC-USD'], historyMs }),
      (fake, from, to) => fake.trades('BTC-USD', from, to),
      ({ time, price, size, side }) => ({ time, price, size, side }),
    );
  });
});

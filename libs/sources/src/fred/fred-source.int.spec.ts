import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startFakeFred, type FakeFred, type FakeFredOptions } from '@tickvault/fake-feeds';
import { closedAfterEach, runStream, until } from '../kit/testing.js';
import type { Observation } from '../source.js';
import { createFredSource, type FredSource, type FredSourceOptions } from './fred-source.js';

/**
 * The fred source against the fake FRED (tools/fake-feeds): real HTTP on loopback, FRED's JSON
 * envelope, fredgraph CSV and error bodies, revisions and faults on demand.
 */

const KEY = 'abcdefghijklmnopqrstuvwxyz123456';
const SERIES = ['DGS10', 'T10Y2Y', 'CPIAUCSL', 'GDP'];
const FAST: Partial<FredSourceOptions> = { pollMs: 300, initialBackoffMs: 100, maxBackoffMs: 500, timeoutMs: 1000, defaultRetryAfterMs: 600 };
const DAY_MS = 86_400_000;

const keep = closedAfterEach();

async function startFake(options: FakeFredOptions = {}): Promise<FakeFred> {
  return keep(await startFakeFred({ seed: 21, apiKey: KEY, ...options }));
}

function sourceFor(server: FakeFred, keyed = true, overrides: Partial<FredSourceOptions> = {}): FredSource {
  return createFredSource(
    { assetClass: 'macro', seed: 0, settings: { fred: { apiUrl: server.apiUrl, graphUrl: server.graphUrl, ...(keyed ? { apiKey: KEY } : {}) } } },
    { ...FAST, ...overrides },
  );
}

const run = (source: FredSource, symbols: readonly string[] = SERIES) => runStream(source, symbols, { noBars: true });

const windowStart = (days = 400) => new Date(Date.now() - days * DAY_MS).toISOString().slice(0, 10);

/** The fake's observations of the revision window as the source should emit them (missing ones left out). */
function expected(server: FakeFred, seriesId: string, from = windowStart()): Observation[] {
  return server
    .observations(seriesId)
    .filter((o) => o.date >= from && o.value !== '.')
    .map((o) => ({ symbol: seriesId, ts: `${o.date}T00:00:00Z`, price: o.value, size: '0', tradeId: null }));
}

describe('fred source against the fake FRED', () => {
  it('emits the revision window of every series as sent, skips missing values, then only what FRED revised', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    const r = run(source);
    const total = SERIES.reduce((n, id) => n + expected(server, id).length, 0);
    await until(() => r.observations.length === total);
    for (const seriesId of SERIES) expect(r.observations.filter((o) => o.symbol === seriesId), seriesId).toEqual(expected(server, seriesId));
    const missing = SERIES.reduce((n, id) => n + server.observations(id).filter((o) => o.date >= windowStart() && o.value === '.').length, 0);
    expect(missing).toBeGreaterThan(0);
    expect(source.stats.missing).toBeGreaterThanOrEqual(missing);
    expect(source.stats.missing % missing).toBe(0);
    expect(r.observations.some((o) => o.price.startsWith('-'))).toBe(true); // T10Y2Y below zero
    expect(r.rejections).toEqual([]);
    const firstPoll = r.observations.length;
    const roundsSoFar = source.stats.rounds;
    await until(() => source.stats.rounds >= roundsSoFar + 2);
    expect(r.observations.length).toBe(firstPoll); // read again unchanged: nothing resent
    expect(source.stats.unchanged).toBeGreaterThanOrEqual(total);

    // A revision, a late publication of a missing day, and a value that is not a number.
    const dgs10 = server.observations('DGS10').filter((o) => o.date >= windowStart());
    const revised = dgs10.find((o) => o.value !== '.')!;
    const late = dgs10.find((o) => o.value === '.')!;
    server.controls.revise('DGS10', revised.date, '9.87');
    server.controls.revise('DGS10', late.date, '4.01');
    server.controls.revise('GDP', server.observations('GDP').at(-1)!.date, 'n/a');
    const rounds = source.stats.rounds;
    await until(() => source.stats.rounds >= rounds + 2);
    await r.stop();
    expect(r.observations.slice(firstPoll)).toEqual([
      { symbol: 'DGS10', ts: `${revised.date}T00:00:00Z`, price: '9.87', size: '0', tradeId: null },
      { symbol: 'DGS10', ts: `${late.date}T00:00:00Z`, price: '4.01', size: '0', tradeId: null },
    ].sort((a, b) => a.ts.localeCompare(b.ts)));
    expect(source.stats.revisions).toBe(1);
    expect(r.rejections.map((x) => [x.symbol, x.reason])).toContainEqual(['GDP', 'invalid_price']);
    expect(new Set(r.rejections.map((x) => x.reason))).toEqual(new Set(['invalid_price']));
    // Each request reads the revision window, with the key, as JSON.
    expect(server.stats.queries.every((q) => q.keyed && q.start === windowStart() && q.path === '/fred/series/observations')).toBe(true);
    console.info('fred polls', { stats: { ...source.stats, reconnects: undefined }, emitted: r.observations.length });
  });

  it('gives the same observations over the keyless fredgraph CSV as over the JSON API', async () => {
    const server = await startFake();
    const keyed = sourceFor(server, true);
    const keyless = sourceFor(server, false);
    const a = run(keyed);
    const b = run(keyless);
    // Both delivered the whole window: a request that timed out on a busy machine leaves its series to a later round.
    const total = SERIES.reduce((n, id) => n + expected(server, id).length, 0);
    await until(() => keyed.stats.rounds >= 2 && keyless.stats.rounds >= 2 && a.observations.length >= total && b.observations.length >= total);
    await Promise.all([a.stop(), b.stop()]);
    expect(b.observations.length).toBeGreaterThan(300);
    expect(b.observations.length).toBe(a.observations.length);
    for (const seriesId of SERIES) {
      const of = (r: { observations: Observation[] }) => r.observations.filter((o) => o.symbol === seriesId);
      expect(of(b), seriesId).toEqual(of(a));
      expect(of(a), seriesId).toEqual(expected(server, seriesId));
    }
    // Both paths met missing values and skipped them alike (the equal observations above); their counts
    // depend on how many rounds each ran before the stop, so they are not compared.
    expect(keyless.stats.missing).toBeGreaterThan(0);
    expect(keyed.stats.missing).toBeGreaterThan(0);
    expect(server.stats.queries.filter((q) => q.path === '/graph/fredgraph.csv').every((q) => !q.keyed && q.start === windowStart())).toBe(true);
    // history() in [from, to) is the same on both paths, paged when FRED pages.
    const paged = sourceFor(server, true, { pageLimit: 40 });
    const from = new Date(`${windowStart(200)}T00:00:00Z`);
    const to = new Date(Date.now() - 20 * DAY_MS);
    const read = async (source: FredSource) => {
      const out: Observation[] = [];
      for await (const page of source.history({ symbol: 'DGS10', from, to })) out.push(...page);
      return out;
    };
    const before = server.stats.requests;
    const viaJson = await read(paged);
    expect(server.stats.requests - before).toBeGreaterThanOrEqual(3);
    expect(viaJson).toEqual(expected(server, 'DGS10', from.toISOString().slice(0, 10)).filter((o) => Date.parse(o.ts) < to.getTime()));
    expect(await read(keyless)).toEqual(viaJson);
  });

  it('rejects an unknown series once and keeps polling the others, on both paths; refuses malformed ids', async () => {
    const server = await startFake();
    for (const keyedPath of [true, false]) {
      const source = sourceFor(server, keyedPath);
      const r = run(source, ['NOPE', 'UNRATE', 'bad id']);
      await until(() => source.stats.rounds >= 3);
      await r.stop();
      expect(r.rejections.map((x) => [x.symbol, x.reason])).toEqual([['bad id', 'invalid_symbol'], ['NOPE', 'unknown_symbol']]);
      expect(r.observations.length).toBe(expected(server, 'UNRATE').length);
    }
    expect(server.stats.queries.filter((q) => q.seriesId === 'NOPE')).toHaveLength(2);
  });

  it('refuses a malformed key at creation without printing it, and logs a refused key naming FRED_API_KEY', async () => {
    const server = await startFake();
    const secret = 'Not-A-Valid-Key-But-Secret-12345';
    let message = '';
    try {
      createFredSource({ assetClass: 'macro', seed: 0, settings: { fred: { apiKey: secret } } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/FRED_API_KEY/);
    expect(message).not.toContain(secret);
    expect(() => createFredSource({ assetClass: 'macro', seed: 0, settings: { fred: { pollSeconds: 0 } } })).toThrow(/FRED_POLL_SECONDS/);
    expect(() => createFredSource({ assetClass: 'macro', seed: 0, settings: { fred: { apiUrl: 'nope' } } })).toThrow(/FRED_API_URL/);

    const unregistered = '0123456789abcdef0123456789abcdef';
    const source = createFredSource({ assetClass: 'macro', seed: 0, settings: { fred: { apiUrl: server.apiUrl, apiKey: unregistered } } }, { ...FAST, pollMs: 400 });
    const r = run(source, ['DGS10', 'GDP']);
    await until(() => server.stats.requests >= 2);
    await sleep(300);
    await r.stop();
    expect(r.observations).toEqual([]);
    expect(r.rejections).toEqual([]);
    const errors = r.logs.filter((l) => l.level === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]!.msg).toMatch(/FRED_API_KEY/);
    expect(JSON.stringify(r.logs)).not.toContain(unregistered);
    // One request per poll (the round stops at the refused key), polls pollMs apart.
    expect(server.stats.requests).toBeLessThanOrEqual(3);
  });

  it('honours 429 with Retry-After and with its own pause, for every series', async () => {
    const server = await startFake();
    const source = sourceFor(server);
    server.controls.force429({ retryAfterSeconds: 1 });
    const r = run(source);
    await until(() => source.stats.rounds >= 2);
    server.controls.force429();
    await until(() => source.stats.client.rateLimited === 2 && server.stats.queries.at(-1)!.status === 200);
    await r.stop();
    const queries = server.stats.queries;
    const limited = queries.map((q, i) => i).filter((i) => queries[i]!.status === 429);
    expect(limited).toHaveLength(2);
    expect(queries[limited[0]! + 1]!.at - queries[limited[0]!]!.at).toBeGreaterThanOrEqual(990);
    expect(queries[limited[1]! + 1]!.at - queries[limited[1]!]!.at).toBeGreaterThanOrEqual(590);
    for (const seriesId of SERIES) expect(r.observations.filter((o) => o.symbol === seriesId)).toEqual(expected(server, seriesId));
    expect(r.reconnects).toEqual([]);
  });

  it('backs off through 500s, refused connections, a stall and a malformed body, then reads everything', async () => {
    const server = await startFake();
    const source = sourceFor(server, true, { timeoutMs: 500 });
    await server.controls.outage(800);
    const r = run(source);
    await until(() => r.reconnects.length === 1);
    await server.controls.outage(700, { mode: 'refuse' });
    await until(() => r.reconnects.length === 2);
    server.controls.stall();
    await until(() => r.reconnects.length === 3);
    server.controls.malformed();
    await until(() => r.rejections.length === 1);
    const rounds = source.stats.rounds;
    await until(() => source.stats.rounds >= rounds + 2);
    await r.stop();
    expect(r.reconnects[0]).toMatch(/FRED 500: Internal Server Error/);
    expect(r.reconnects[1]).toMatch(/unreachable: ECONNREFUSED/);
    expect(r.reconnects[2]).toMatch(/no complete answer in 500 ms/);
    expect(r.rejections[0]).toMatchObject({ reason: 'malformed' });
    expect(r.rejections[0]!.sample.length).toBeGreaterThan(0);
    expect(server.stats.queries.filter((q) => q.status === 500).length).toBeLessThanOrEqual(8);
    // Every observation of every series arrived, whatever failed in between.
    for (const seriesId of SERIES) expect(new Set(r.observations.filter((o) => o.symbol === seriesId).map((o) => JSON.stringify(o)))).toEqual(new Set(expected(server, seriesId).map((o) => JSON.stringify(o))));
  });
});

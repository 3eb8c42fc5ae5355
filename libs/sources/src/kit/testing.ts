import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, vi } from 'vitest';
import type { Observation, SourceBar, SourceRejection, StreamContext } from '../source.js';

/**
 * What the provider integration specs share (imported by specs only): a source's stream run with a
 * collecting context, fakes closed after each test, waiting for a condition, and the no-hole check
 * of the id-based providers. Each spec keeps what its provider's wire format decides.
 */

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

/** Everything one `stream(ctx)` emitted, rejected, logged and reconnected for. */
export interface StreamRun {
  observations: Observation[];
  bars: SourceBar[];
  rejections: SourceRejection[];
  logs: LogEntry[];
  reconnects: string[];
  /** Taken right after stream() was called: every trade from here on must be delivered. */
  startedAt: number;
  /** When the first connection was live (a polled source: the first poll answered); 0 until then. */
  connectedAt: number;
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Runs `source.stream` on `symbols` with a collecting context; `noBars` makes a bar an error (FRED has none). */
export function runStream(source: { stream(ctx: StreamContext): Promise<void> }, symbols: readonly string[], options: { noBars?: boolean } = {}): StreamRun {
  const abort = new AbortController();
  const r: StreamRun = {
    observations: [],
    bars: [],
    rejections: [],
    logs: [],
    reconnects: [],
    startedAt: 0,
    connectedAt: 0,
    done: Promise.resolve(),
    async stop() {
      abort.abort();
      await r.done;
    },
  };
  const log = (level: LogEntry['level']) => (obj: object, msg: string) => r.logs.push({ level, obj, msg });
  const ctx: StreamContext = {
    symbols,
    emit: (batch) => r.observations.push(...batch),
    emitBars: (batch) => {
      if (options.noBars) throw new Error('this source has no bars');
      r.bars.push(...batch);
    },
    reject: (rejection) => r.rejections.push(rejection),
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    signal: abort.signal,
    onReconnect: (reason) => r.reconnects.push(reason),
    onConnected: () => {
      r.connectedAt ||= Date.now();
    },
  };
  r.done = source.stream(ctx);
  r.startedAt = Date.now();
  return r;
}

/** Polls `condition` every 20 ms; throws once `timeoutMs` passed without it. */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/**
 * Closes, after each test, every fake (or anything closable) `keep` was given during it; returns
 * `keep`. Call at the top of a spec file.
 */
export function closedAfterEach(): <T extends { close(): unknown }>(closable: T) => T {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const closable of open.splice(0)) await closable.close();
  });
  return (closable) => {
    open.push(closable);
    return closable;
  };
}

/** `2026-01-02T03:04:05.123456Z` → microseconds since the epoch. */
export function micros(ts: string): number {
  const [, fraction = ''] = /\.(\d+)Z$/.exec(ts) ?? [];
  return Math.floor(Date.parse(ts) / 1000) * 1_000_000 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

export type NoHoleSummary = Record<string, { emitted: number; distinct: number; expected: number }>;

/** How an id-based provider's fake trades compare with what its source emits. */
export interface TradeTape<T> {
  /** The fake's trades from the first to the last of `mine` (the emitted trades of `symbol`). */
  expected(symbol: string, mine: readonly Observation[]): T[];
  id(trade: T): number;
  /** What the source must emit for the trade. */
  observation(symbol: string, trade: T): Observation;
}

/**
 * For each symbol: the distinct trade ids emitted must be exactly the fake's trades between the first
 * and the last emitted trade (no hole, nothing invented); each emitted trade must match the fake's.
 */
export function expectNoHole<T>(tape: TradeTape<T>, observations: readonly Observation[], symbols: readonly string[]): NoHoleSummary {
  const summary: NoHoleSummary = {};
  for (const symbol of symbols) {
    const mine = observations.filter((o) => o.symbol === symbol);
    expect(mine.length, symbol).toBeGreaterThan(0);
    const byId = new Map(mine.map((o) => [Number(o.tradeId), o]));
    const expected = tape.expected(symbol, mine);
    const missing = expected.filter((t) => !byId.has(tape.id(t))).map((t) => tape.id(t));
    expect(missing, `${symbol}: trade ids missing`).toEqual([]);
    expect(byId.size, `${symbol}: nothing but the fake's trades`).toBe(expected.length);
    for (const t of expected) expect(byId.get(tape.id(t))).toEqual(tape.observation(symbol, t));
    summary[symbol] = { emitted: mine.length, distinct: byId.size, expected: expected.length };
  }
  return summary;
}

/**
 * Waits until the source delivered every trade up to now without a hole: each symbol has a trade at
 * or after this point and expectNoHole passes (a catch-up in flight may still be filling). Returns
 * its summary.
 */
export async function expectDelivered<T>(tape: TradeTape<T>, observations: () => readonly Observation[], symbols: readonly string[]): Promise<NoHoleSummary> {
  const toUs = Date.now() * 1000;
  return vi.waitFor(
    () => {
      const all = observations();
      for (const symbol of symbols) expect(all.some((o) => o.symbol === symbol && micros(o.ts) >= toUs), `${symbol}: a trade after ${new Date(toUs / 1000).toISOString()}`).toBe(true);
      return expectNoHole(tape, all, symbols);
    },
    { timeout: 15_000, interval: 50 },
  );
}

/** The counters of a streaming source the shared scenarios read. */
interface StreamStats {
  liveTrades: number;
  connections: number;
  staleTerminations: number;
  rest: { rateLimited: number };
}

/**
 * Stalls the fake's one connection once the run is live and waits for the source to notice: the
 * stall is ended by the stale timeout (not before `staleMs - quietMs`, the gap between server
 * messages), a new connection comes, and `delivered` finds nothing missing.
 * Stops the run; returns how long recovery took.
 */
export async function expectStallRecovered(
  r: StreamRun,
  stats: StreamStats,
  stall: () => number,
  delivered: () => Promise<unknown>,
  timing: { staleMs: number; quietMs: number },
): Promise<number> {
  await until(() => stats.liveTrades > 20);
  const stalledAt = Date.now();
  expect(stall()).toBe(1);
  await until(() => stats.connections >= 2);
  const recoveredMs = Date.now() - stalledAt;
  await delivered();
  await r.stop();
  expect(stats.staleTerminations).toBe(1);
  expect(recoveredMs, 'stall detected after the stale timeout').toBeGreaterThanOrEqual(timing.staleMs - timing.quietMs);
  // No upper bound on the time: a busy machine stretches it. That the watchdog, not something slower, ended
  // the stall is what staleTerminations says.
  return recoveredMs;
}

/**
 * With duplicates on, injects every malformed kind (`injected` frames, `rejected` of them refused)
 * into the live run and checks that trades keep flowing on the same connection, nothing is missing
 * (`delivered`) and the duplicates did arrive. Stops the run; returns the rejections' reasons, sorted,
 * for the provider's own list.
 */
export async function expectMalformedRejected(
  r: StreamRun,
  stats: StreamStats,
  controls: { setDuplicates(on: boolean): void; injectMalformed(): number },
  counts: { injected: number; rejected: number },
  delivered: () => Promise<unknown>,
): Promise<string[]> {
  await until(() => stats.liveTrades > 20);
  controls.setDuplicates(true);
  expect(controls.injectMalformed()).toBe(counts.injected);
  const injectedAt = Date.now();
  const after = () => r.observations.filter((o) => Date.parse(o.ts) > injectedAt).length;
  await until(() => r.rejections.length >= counts.rejected && after() > 10);
  await delivered(); // duplicates allowed, nothing missing
  await r.stop();
  for (const rejection of r.rejections) expect(rejection.sample.length).toBeGreaterThan(0);
  expect(stats.connections).toBe(1);
  expect(after()).toBeGreaterThan(10);
  expect(r.observations.length).toBeGreaterThan(new Set(r.observations.map((o) => `${o.symbol}:${o.tradeId}`)).size);
  return r.rejections.map((x) => x.reason).sort();
}

/**
 * history() of the minute of `symbol` ending `endsAgoMs` ago, with the fake told to answer the first request
 * 429 (Retry-After 1 s): the source waits it out once and then gets the page. Returns the trades.
 */
export async function historyAfter429(
  source: { history(request: { symbol: string; from: Date; to: Date }): AsyncIterable<readonly Observation[]>; stats: StreamStats },
  server: { controls: { force429(options: { retryAfterSeconds: number; count?: number }): void }; stats: { rateLimited: number } },
  symbol: string,
  endsAgoMs: number,
): Promise<{ trades: Observation[]; from: number; to: number }> {
  const to = Date.now() - endsAgoMs;
  const from = to - 60_000;
  server.controls.force429({ retryAfterSeconds: 1, count: 1 });
  const started = Date.now();
  const trades: Observation[] = [];
  for await (const page of source.history({ symbol, from: new Date(from), to: new Date(to) })) trades.push(...page);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  expect(source.stats.rest.rateLimited).toBe(1);
  expect(server.stats.rateLimited).toBe(1);
  return { trades, from, to };
}

/**
 * stream() stopped and run again on the same source (the runner restarts it when symbols move): the
 * trades executed while no stream ran (waited for until the fake has more than 10) arrive by
 * catch-up, and `delivered` finds nothing missing across both runs.
 */
export async function expectRestartCaughtUp(
  source: { stats: { liveTrades: number; catchUp: { trades: number } } },
  start: () => StreamRun,
  tradesSince: (ms: number) => number,
  delivered: (observations: () => readonly Observation[]) => Promise<unknown>,
): Promise<void> {
  const first = start();
  await until(() => source.stats.liveTrades > 20);
  await first.stop();
  const stoppedAt = Date.now();
  // Well over the 10 expected below: on subscribe a provider may send its newest trade per product live
  // (Coinbase's last_match), and a trade stamped within the stop's own instant may have reached the first run.
  await until(() => tradesSince(stoppedAt) > 40);
  const second = start();
  await delivered(() => [...first.observations, ...second.observations]);
  await second.stop();
  expect(source.stats.catchUp.trades).toBeGreaterThan(10);
}

/**
 * An outage whose catch-up meets a 429 (Retry-After 1 s): the source reconnects, waits the 429 out
 * and then `delivered` finds nothing missing. `duringOutage` (optional) runs right after the outage
 * began and returns a condition to wait for before that (a trade made inside it arrived). Stops the
 * run; both symbols' catch-up requests may already be in flight when the 429 comes back.
 */
export async function expectOutageCaughtUpAfter429(
  r: StreamRun,
  stats: StreamStats & { reconnects: readonly unknown[] },
  controls: { force429(options: { retryAfterSeconds: number; count?: number }): void; outage(ms: number): void },
  delivered: () => Promise<unknown>,
  duringOutage: () => () => boolean = () => () => true,
): Promise<void> {
  await until(() => stats.liveTrades > 20);
  controls.force429({ retryAfterSeconds: 1, count: 1 });
  controls.outage(500);
  const arrived = duringOutage();
  await until(() => stats.rest.rateLimited >= 1 && stats.reconnects.length >= 1, 5000);
  await until(arrived);
  await delivered();
  await r.stop();
  expect(stats.rest.rateLimited).toBeGreaterThanOrEqual(1);
  expect(stats.rest.rateLimited).toBeLessThanOrEqual(2);
}

type HistorySource = { history(request: { symbol: string; from: Date; to: Date }): AsyncIterable<readonly Observation[]> };

/** Every page of `source.history` over [from, to). */
export async function historyPages(source: HistorySource, symbol: string, from: number, to: number): Promise<(readonly Observation[])[]> {
  const pages: (readonly Observation[])[] = [];
  for await (const page of source.history({ symbol, from: new Date(from), to: new Date(to) })) pages.push(page);
  return pages;
}

/** An empty window yields nothing. */
export async function expectEmptyHistory(source: HistorySource, symbol: string, at: number): Promise<void> {
  expect((await historyPages(source, symbol, at, at)).flat()).toEqual([]);
}

/**
 * Each input gives its outcome under `outcomeOf` (a rejection's reason, or the kind it parsed as),
 * listed by outcome: `{ invalid_price: [input, …], … }`. For the frame and row checks of every provider.
 */
export function expectOutcomes(outcomeOf: (text: string) => string, byOutcome: Readonly<Record<string, readonly string[]>>): void {
  for (const [outcome, inputs] of Object.entries(byOutcome)) for (const input of inputs) expect(outcomeOf(input), input).toBe(outcome);
}

/** `f(input)` equals the output of each `[input, output]` case (symbol mappings, decimal texts). */
export function expectMapped<I, O>(f: (input: I) => O, cases: readonly (readonly [I, O])[]): void {
  for (const [input, output] of cases) expect(f(input), String(input)).toEqual(output);
}

/**
 * A provider spec's harness: its fake with the spec's defaults (closed after each test), its source
 * against that fake with fast test options, and runs on the spec's symbols.
 */
export function harness<F extends { close(): unknown }, FO extends object, S extends { stream(ctx: StreamContext): Promise<void> }, SO extends object>(spec: {
  startFake(options: FO): Promise<F>;
  source(fake: F, overrides: SO): S;
  symbols: readonly string[];
}) {
  const keep = closedAfterEach();
  return {
    startFake: async (options = {} as FO): Promise<F> => keep(await spec.startFake(options)),
    sourceFor: (fake: F, overrides = {} as SO): S => spec.source(fake, overrides),
    run: (source: S, symbols: readonly string[] = spec.symbols): StreamRun => runStream(source, symbols),
  };
}

/** Three outages of 600 ms on a live run, each followed by `after(i)` (waiting for the reconnect and what it brings). */
export async function repeatOutages(stats: { liveTrades: number }, outage: (ms: number) => void, after: (i: number) => Promise<void>): Promise<void> {
  await until(() => stats.liveTrades > 20);
  for (let i = 0; i < 3; i++) {
    // Connections dropped, new ones refused and the window's trades never pushed: only REST has them.
    outage(600);
    await after(i);
  }
}

/**
 * history() over ten minutes ending a minute ago (more than 2000 trades, at least 3 pages) gives
 * exactly the fake's trades. Returns the pages and the window's end.
 */
export async function expectHistoryWindow<T>(
  source: HistorySource,
  symbol: string,
  fakeTrades: (from: number, to: number) => T[],
  observation: (trade: T) => Observation,
): Promise<{ pages: (readonly Observation[])[]; to: number }> {
  const to = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const from = to - 10 * 60_000 + 123;
  const pages = await historyPages(source, symbol, from, to);
  const expected = fakeTrades(from, to);
  expect(expected.length).toBeGreaterThan(2000);
  expect(pages.length).toBeGreaterThanOrEqual(3);
  expect(pages.flat()).toEqual(expected.map(observation));
  return { pages, to };
}

/** What a frame parser made of a text: a rejection's reason, or the kind it parsed as (for expectOutcomes). */
export function outcomeOf(parse: (text: string) => { kind: string; rejection?: { reason: string } }): (text: string) => string {
  return (text) => {
    const outcome = parse(text);
    return outcome.kind === 'rejected' && outcome.rejection ? outcome.rejection.reason : outcome.kind;
  };
}

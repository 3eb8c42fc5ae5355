import { setTimeout as sleep } from 'node:timers/promises';
import type { Observation, SourceLogger, SourceRejection } from '../source.js';
import { CATCH_UP_RETRY, GapWorkers } from './gap-queue.js';

/** One run of missing trade ids: `to` null means "up to the first trade the new connection delivers". */
export interface IdGap {
  /** First missing trade id; NaN until `fromTimeMs` is resolved to an id. */
  from: number;
  to: number | null;
  done: boolean;
  /** For a symbol with no delivered trade yet: the gap starts at the first trade at or after this instant. */
  fromTimeMs?: number;
  /** Time (µs) of the trade that bounded an open gap (`to` + 1). */
  toTimeUs?: number;
  /** Time of the last trade delivered before the gap: a restart must replay from here while it is owed. */
  sinceTimeMs?: number;
}

export interface IdState {
  /** Highest trade id accounted for: emitted, or queued as a gap to catch up. */
  lastId?: number;
  /** Time (ms) of the newest trade delivered. */
  lastTimeMs?: number;
  gaps: IdGap[];
  /** The open-ended gap of the current connection, until its first trade bounds it. */
  openGap?: IdGap;
  /** When the symbol was first asked for: until one of its trades is delivered, a drop is caught up from here by time. */
  wantedSince?: number;
}

/** How far and how patiently an id-based provider pages REST (part of its options). */
export interface IdPagingOptions {
  /** The provider's trades page size (its maximum). */
  pageLimit: number;
  /** A gap longer than this many trades is caught up only this far; the rest is left to gap-fill. */
  maxCatchUpTrades: number;
  /** How long catch-up waits for REST to show trades the stream already told of. */
  restLagToleranceMs: number;
}

/** Catch-up bounds the id-based providers share (the page size is each provider's own maximum). */
export const ID_PAGING_DEFAULTS = { maxCatchUpTrades: 500_000, restLagToleranceMs: 10_000 } as const satisfies Omit<IdPagingOptions, 'pageLimit'>;

export interface IdGapOptions extends IdPagingOptions {
  /** For log lines: `Binance`, `Coinbase`. */
  provider: string;
  /** The provider's stats: gaps opened, trades caught up, gaps (or their rest) given up to gap-fill. */
  counts: { gaps: number; trades: number; gaveUp: number };
}

/** How a provider's REST trade rows are read. */
export interface IdRows<R> {
  /** One page of rows from `fromId` on, oldest first. */
  fetch(fromId: number): Promise<readonly R[]>;
  /** The row's trade id, NaN when it has none. */
  idOf(row: R): number;
  check(row: R): { ok: true; observation: Observation; timeUs: number } | { ok: false; rejection: SourceRejection };
}

/** Where caught-up trades go. */
export interface IdGapOutput {
  emit(observations: Observation[]): void;
  reject(rejection: SourceRejection): void;
  logger: SourceLogger;
  signal: AbortSignal;
}

// Gaps waiting per symbol while REST is failing; past this the oldest waiting one is left to gap-fill,
// so memory stays bounded through a long REST outage with a flapping stream.
const MAX_PENDING_GAPS = 1000;
// REST is served from a database behind the stream: while it lags, ask again this often.
const REST_LAG_POLL_MS = 500;

/**
 * Trade-id bookkeeping for providers whose trade ids count up one by one (Binance, Coinbase): the
 * last delivered id per symbol outlives connections and `stream()` calls; after a reconnect,
 * everything past it is owed until the new connection's first trade bounds it, and a jump in ids
 * on a live connection is owed too. Gaps are filled by paging REST by id.
 */
export class TradeIdGaps {
  private readonly states = new Map<string, IdState>();

  constructor(private readonly options: IdGapOptions) {}

  get counts(): IdGapOptions['counts'] {
    return this.options.counts;
  }

  /** Each symbol is owed its trades from `since` on, unless an earlier stream already owes it from further back. */
  want(symbols: readonly string[], since: number): void {
    for (const symbol of symbols) this.state(symbol).wantedSince ??= since;
  }

  state(symbol: string): IdState {
    let state = this.states.get(symbol);
    if (!state) this.states.set(symbol, (state = { gaps: [] }));
    return state;
  }

  /** A connection opened: everything after the last delivered id is missing until proven otherwise. True when a gap was queued. */
  opened(symbol: string, logger: SourceLogger): boolean {
    const state = this.state(symbol);
    if (state.openGap && !state.openGap.done && state.openGap.to === null) state.openGap.done = true;
    state.openGap = undefined;
    let gap: IdGap;
    if (state.lastId !== undefined) gap = { from: state.lastId + 1, to: null, done: false };
    else if (state.wantedSince !== undefined) gap = { from: Number.NaN, to: null, done: false, fromTimeMs: state.wantedSince };
    else return false;
    this.push(symbol, gap, logger);
    state.openGap = gap;
    return true;
  }

  /** A live trade: the first per connection bounds the open gap; a jump in ids opens one. True when a gap was queued. */
  live(symbol: string, id: number, timeUs: number, logger: SourceLogger): boolean {
    const state = this.state(symbol);
    const timeMs = Math.floor(timeUs / 1000);
    const open = state.openGap;
    let jumped = false;
    if (open) state.openGap = undefined;
    if (open && !open.done) {
      open.to = id - 1;
      open.toTimeUs = timeUs;
    } else if (state.lastId !== undefined && id > state.lastId + 1) {
      this.push(symbol, { from: state.lastId + 1, to: id - 1, done: false }, logger);
      jumped = true;
    }
    state.lastId = Math.max(state.lastId ?? id, id);
    state.lastTimeMs = Math.max(state.lastTimeMs ?? timeMs, timeMs);
    return jumped;
  }

  /** Queues a gap; past the bound the oldest waiting one is given up (counted and logged). */
  push(symbol: string, gap: IdGap, logger: SourceLogger): void {
    const state = this.state(symbol);
    gap.sinceTimeMs ??= gap.fromTimeMs ?? state.lastTimeMs;
    state.gaps.push(gap);
    this.options.counts.gaps++;
    if (state.gaps.length > MAX_PENDING_GAPS) {
      // Index 0 may be in progress; the newest may be the open gap of the current connection.
      const [dropped] = state.gaps.splice(1, 1);
      if (dropped) dropped.done = true;
      this.options.counts.gaveUp++;
      logger.warn({ symbol, from: dropped?.from, to: dropped?.to, pending: state.gaps.length }, `too many ${this.options.provider} gaps pending; giving the oldest up to gap-fill`);
    }
  }

  /** The oldest gap not done yet (done ones are dropped on the way). */
  next(symbol: string): IdGap | undefined {
    const gaps = this.state(symbol).gaps;
    while (gaps[0]?.done) gaps.shift();
    return gaps[0];
  }

  pending(symbol: string): boolean {
    return (this.states.get(symbol)?.gaps.length ?? 0) > 0;
  }

  /** The oldest trade time still owed by a pending catch-up: progress saved on stop must not pass it. */
  owedSince(symbol: string): number | undefined {
    let owed: number | undefined;
    for (const gap of this.states.get(symbol)?.gaps ?? []) {
      if (!gap.done && gap.sinceTimeMs !== undefined) owed = Math.min(owed ?? gap.sinceTimeMs, gap.sinceTimeMs);
    }
    return owed;
  }

  /**
   * Pages a gap from `gap.from` until it is closed (or REST has no more, or the gap is too long);
   * progress stays in the gap, so a retry resumes where this stopped.
   */
  async fill<R>(symbol: string, gap: IdGap, rows: IdRows<R>, out: IdGapOutput): Promise<void> {
    const { provider, pageLimit, maxCatchUpTrades, restLagToleranceMs, counts } = this.options;
    const started = gap.from;
    let fetched = 0;
    let waitingSince: number | undefined;
    while (!gap.done) {
      if (gap.to !== null && gap.from > gap.to) break;
      const page = await rows.fetch(gap.from);
      const observations: Observation[] = [];
      let maxId = -1;
      for (const row of page) {
        // Progress counts every row with an id, valid or not: a refused row must not be asked for forever.
        const id = rows.idOf(row);
        if (Number.isSafeInteger(id)) maxId = Math.max(maxId, id);
        if (gap.to !== null && id > gap.to) continue;
        const checked = rows.check(row);
        if (!checked.ok) out.reject(checked.rejection);
        else if (gap.fromTimeMs === undefined || checked.timeUs >= gap.fromTimeMs * 1000) observations.push(checked.observation);
      }
      if (observations.length > 0) {
        out.emit(observations);
        counts.trades += observations.length;
      }
      fetched += page.length;
      if (maxId >= gap.from) {
        gap.from = maxId + 1;
        const state = this.state(symbol);
        state.lastId = Math.max(state.lastId ?? maxId, Math.min(maxId, gap.to ?? maxId));
      }
      if (gap.to === null && page.length < pageLimit) break; // reached the newest trade
      if (gap.to !== null && gap.from > gap.to) break;
      if (page.length < pageLimit) {
        // REST has not caught up with the stream yet: wait a little.
        waitingSince ??= Date.now();
        if (Date.now() - waitingSince > restLagToleranceMs) {
          out.logger.warn({ symbol, from: gap.from, to: gap.to }, `${provider} REST does not have trades the stream skipped; leaving them to gap-fill`);
          counts.gaveUp++;
          break;
        }
        await sleep(REST_LAG_POLL_MS, undefined, { signal: out.signal });
        continue;
      }
      waitingSince = undefined;
      if (fetched >= maxCatchUpTrades) {
        out.logger.warn({ symbol, from: started, reached: gap.from, to: gap.to }, `${provider} gap too long to catch up here; leaving the rest to gap-fill`);
        counts.gaveUp++;
        break;
      }
    }
    gap.done = true;
    if (fetched > 0) out.logger.info({ symbol, fromId: started, toId: gap.from - 1, trades: fetched }, `caught up missed ${provider} trades`);
  }
}

/** What an id-based provider supplies to catch up: its REST query and which errors are final. */
export interface IdCatchUpWork {
  provider: string;
  /** The symbols of this `stream()` call (a provider may drop one it turns out not to list). */
  symbols(): Iterable<string>;
  /** Fills one gap over REST (resolving `fromTimeMs` to an id first when needed), through `TradeIdGaps.fill`. */
  fill(symbol: string, gap: IdGap): Promise<void>;
  refused(error: unknown): boolean;
  /** False once the provider no longer serves the symbol: its gaps are dropped. */
  serves?(symbol: string): boolean;
}

/** The catch-up of one `stream()` call of an id-based provider: gaps from `TradeIdGaps`, filled by `GapWorkers`. */
export class IdCatchUp {
  private readonly workers: GapWorkers<IdGap>;

  constructor(
    private readonly ids: TradeIdGaps,
    private readonly work: IdCatchUpWork,
    private readonly ctx: { signal: AbortSignal; logger: SourceLogger },
    random?: () => number,
  ) {
    const counts = ids.counts;
    this.workers = new GapWorkers<IdGap>(
      {
        provider: work.provider,
        next: (symbol) => {
          if (work.serves && !work.serves(symbol)) {
            ids.state(symbol).gaps = []; // nothing to catch up of a symbol the provider does not list
            return undefined;
          }
          return ids.next(symbol);
        },
        fill: (symbol, gap) => work.fill(symbol, gap),
        refused: (error) => work.refused(error),
        retryAfter: () => CATCH_UP_RETRY,
        settle: (_symbol, gap, how) => {
          if (how !== 'refused') return;
          gap.done = true;
          counts.gaveUp++;
        },
        describe: (gap) => ({ from: gap.from, to: gap.to }),
      },
      ctx.signal,
      ctx.logger,
      random,
    );
  }

  /** A connection opened: every symbol owes what came after its last delivered trade. */
  opened(): void {
    for (const symbol of this.work.symbols()) if (this.ids.opened(symbol, this.ctx.logger)) this.workers.kick(symbol);
  }

  /** A live trade (µs time): bounds the open gap, or opens one on a jump in ids. */
  live(symbol: string, id: number, timeUs: number): void {
    if (this.ids.live(symbol, id, timeUs, this.ctx.logger)) this.workers.kick(symbol);
  }

  /** Queues a gap found another way (a heartbeat ahead of the stream). */
  owe(symbol: string, gap: IdGap): void {
    this.ids.push(symbol, gap, this.ctx.logger);
    this.workers.kick(symbol);
  }

  /** Starts workers for gaps left over from an earlier `stream()` call. */
  resume(): void {
    for (const symbol of this.work.symbols()) if (this.ids.pending(symbol)) this.workers.kick(symbol);
  }

  stop(): Promise<void> {
    return this.workers.stop();
  }
}

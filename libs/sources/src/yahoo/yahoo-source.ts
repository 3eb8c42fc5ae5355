import { isUsEquityMarketOpen } from '@tickvault/schema';
import type { HistoryRequest, MarketSource, SourceBar, SourceOptions, StreamContext } from '../source.js';
import { backoffDelay } from '../backoff.js';
import type { RestStats } from '../kit/rest-client.js';
import { resumingSource } from '../kit/resuming-source.js';
import { restWiring } from '../kit/rest-wiring.js';
import { acceptedSymbols } from '../kit/accepted-symbols.js';
import { futureToleranceMs } from '../kit/stream-options.js';
import { OutageClock } from '../kit/reconnect.js';
import { pollRound, pollUntilStopped, type PolledSourceTuning, type PollStats } from '../kit/poll-loop.js';
import { parseChart } from './chart.js';
import { isTransient, YahooApiError, YahooClient } from './client.js';
import { toYahooSymbol, YahooSymbolError } from './symbols.js';

export const YAHOO_DEFAULTS = {
  chartUrl: 'https://query1.finance.yahoo.com/v8/finance/chart',
  // Bars are per minute: two polls a minute show each minute's forming bar and the latest price
  // within 30 s, at two requests per symbol per minute.
  pollSeconds: 30,
  // Yahoo publishes no limit and answers 429 per IP; one request a second stays well under what
  // keyless clients are reported to get away with. 30 symbols fit a 30 s poll; more stretch the round.
  requestsPerMinute: 60,
} as const;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export interface YahooSourceOptions extends PolledSourceTuning {
  chartUrl: string;
  /** Poll interval during the NYSE regular session. */
  pollMs: number;
  /** Poll interval outside it: bars and the price change only in the session (pre/post are not asked for). */
  offHoursPollMs: number;
  /** Requests per minute of the in-process limiter (ignored when `limiter` is given). */
  requestsPerMinute: number;
  /**
   * Is the NYSE regular session open (the market calendar of @tickvault/schema: weekends, NYSE
   * holidays and 13:00 early closes)? Tests pass `() => true` so they do not depend on the clock.
   */
  isMarketOpen: (at: Date) => boolean;
  /** Quotes stamped further ahead of the clock are rejected (`future_timestamp`). */
  maxFutureMs: number;
  /** Each poll re-reads from this long before the newest minute emitted: the last bars are still forming. */
  overlapMs: number;
  /** A symbol's first poll reaches this far back: a restart or a hand-over replays nothing else for Yahoo. */
  initialLookbackMs: number;
  /** Longest window per request: Yahoo refuses 1m ranges over about 7 days. */
  pageMs: number;
  /** How far back Yahoo keeps 1m bars (about 30 days): nothing older is asked for. */
  maxHistoryMs: number;
  /** Bars are emitted in batches of at most this many. */
  batchMaxBars: number;
  userAgent: string;
}

export interface YahooStats extends PollStats {
  barsEmitted: number;
  /** Bars read again unchanged (the overlap) and not sent twice. */
  barsUnchanged: number;
  nullEntries: number;
  observations: number;
  rejected: number;
  client: RestStats;
}

export type YahooSource = MarketSource & { readonly stats: YahooStats };

interface SymbolState {
  /** Start (ms) of the newest minute with a bar seen: the next poll reads from here less the overlap. */
  lastBarMinute?: number;
  /** What was sent per recent minute, so a bar read again unchanged is not sent again. */
  sent: Map<number, string>;
  /** meta.regularMarketTime (seconds) of the last observation emitted. */
  lastMarketTime?: number;
  /** Minutes before this were refused as too old (422): never asked for again. */
  skipBefore?: number;
}

/** When to poll, by default: the NYSE calendar, and every 30 minutes while the market is closed. */
const SCHEDULE_DEFAULTS: Pick<YahooSourceOptions, 'isMarketOpen' | 'offHoursPollMs'> = {
  isMarketOpen: isUsEquityMarketOpen,
  offHoursPollMs: 30 * MINUTE_MS,
};

/** Where the poll loop stands, as far as deciding the next round goes. */
export interface YahooPollState {
  /** When the last round started (ms since the epoch); -Infinity before the first. */
  lastRoundAt: number;
  /** Whether the market was open when it started. */
  lastRoundInSession: boolean;
  /** Rounds failed in a row (their retries are paced by the backoff, not by this). */
  failures: number;
}

/**
 * Is a poll round due at `now`? The loop asks this every `pollMs`: in the NYSE regular session a
 * round is due each time (the session rate); after a failure too (the backoff paces it); once more
 * right after the close, for the last bars; otherwise (weekends, NYSE holidays, after an early
 * close) only once `offHoursPollMs` has passed since the last round (the closed-market rate).
 */
export function yahooPollDue(
  now: number,
  state: YahooPollState,
  schedule: Pick<YahooSourceOptions, 'isMarketOpen' | 'offHoursPollMs'> = SCHEDULE_DEFAULTS,
): { due: boolean; inSession: boolean } {
  const inSession = schedule.isMarketOpen(new Date(now));
  const due = inSession || state.lastRoundInSession || state.failures > 0 || now - state.lastRoundAt >= schedule.offHoursPollMs;
  return { due, inSession };
}

const barKey = (bar: SourceBar) => `${bar.open}|${bar.high}|${bar.low}|${bar.close}|${bar.volume}`;

function positive(value: number, variable: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${variable} must be a positive number (got ${value})`);
  return value;
}

/**
 * The `yahoo` source: US stocks from Yahoo Finance's chart endpoint. Keyless and unofficial: Yahoo
 * documents nothing, changes things and rate-limits by IP, so this is best effort.
 *
 * Each poll asks, per symbol, for the 1m bars from the newest minute it emitted (less `overlapMs`,
 * since the last bars are still forming) up to now, and emits every minute with prices as a
 * provider bar (a bar for a minute already sent replaces it downstream) plus the latest price
 * (meta.regularMarketPrice at meta.regularMarketTime) as one observation when that time moved.
 *
 * No hole: where a symbol's bars stopped is kept per symbol across polls and `stream()` calls; a
 * failed poll is retried with exponential backoff and jitter, and the next successful one reads
 * from that point, paging by `pageMs` back to `maxHistoryMs` at most. Duplicates (the overlap)
 * are absorbed downstream and mostly not even sent. Outside the NYSE regular session (weekends,
 * NYSE holidays, after 13:00 on early-close days) it polls every `offHoursPollMs` only (once more
 * right after the close, for the last bars): see yahooPollDue.
 */
export function createYahooSource(options: SourceOptions, overrides: Partial<YahooSourceOptions> = {}): YahooSource {
  const settings = options.settings?.yahoo;
  const chartUrl = settings?.chartUrl ?? YAHOO_DEFAULTS.chartUrl;
  if (!URL.canParse(chartUrl) || !/^https?:$/.test(new URL(chartUrl).protocol)) {
    throw new Error(`YAHOO_CHART_URL must be an http(s) URL (got "${chartUrl}")`);
  }
  const opts: YahooSourceOptions = {
    chartUrl,
    pollMs: positive(settings?.pollSeconds ?? YAHOO_DEFAULTS.pollSeconds, 'YAHOO_POLL_SECONDS') * 1000,
    offHoursPollMs: SCHEDULE_DEFAULTS.offHoursPollMs,
    requestsPerMinute: positive(settings?.requestsPerMinute ?? YAHOO_DEFAULTS.requestsPerMinute, 'the Yahoo request budget per minute'),
    isMarketOpen: SCHEDULE_DEFAULTS.isMarketOpen,
    maxFutureMs: futureToleranceMs(options),
    overlapMs: 2 * MINUTE_MS,
    initialLookbackMs: DAY_MS,
    pageMs: 7 * DAY_MS,
    maxHistoryMs: 29 * DAY_MS,
    initialBackoffMs: 1000,
    maxBackoffMs: 5 * MINUTE_MS,
    timeoutMs: 15_000,
    defaultRetryAfterMs: 30_000,
    maxRetryWaitMs: 5 * MINUTE_MS,
    maxAttempts: 5,
    batchMaxBars: 500,
    userAgent: 'Mozilla/5.0 (compatible; tickvault)',
    ...overrides,
  };
  const random = opts.random ?? Math.random;
  const wiring = restWiring(options, 'yahoo', opts.requestsPerMinute, opts);
  const { logger } = wiring;
  const client = new YahooClient({
    ...wiring,
    chartUrl: opts.chartUrl,
    timeoutMs: opts.timeoutMs,
    userAgent: opts.userAgent,
    defaultRetryAfterMs: opts.defaultRetryAfterMs,
    maxRetryWaitMs: opts.maxRetryWaitMs,
    random,
  });
  const states = new Map<string, SymbolState>();
  const stats: YahooStats = {
    rounds: 0, failedRounds: 0, reconnects: [], barsEmitted: 0, barsUnchanged: 0, nullEntries: 0, observations: 0, rejected: 0, client: client.stats,
  };

  const stateOf = (symbol: string): SymbolState => {
    let state = states.get(symbol);
    if (!state) states.set(symbol, (state = { sent: new Map() }));
    return state;
  };

  /** One request's body: bars (changed ones only), the quote when it moved, rejections. */
  function take(ctx: StreamContext, symbol: string, text: string): void {
    const state = stateOf(symbol);
    const outcome = parseChart(text, { symbol, now: Date.now(), maxFutureMs: opts.maxFutureMs });
    if (outcome.kind === 'error') throw new YahooApiError(200, outcome.code, outcome.description);
    if (outcome.kind === 'rejected') {
      stats.rejected++;
      ctx.reject(outcome.rejection);
      return;
    }
    for (const rejection of outcome.rejections) {
      stats.rejected++;
      ctx.reject(rejection);
    }
    stats.nullEntries += outcome.nullEntries;
    const fresh: SourceBar[] = [];
    for (const bar of outcome.bars) {
      const minute = Date.parse(bar.openTime);
      const key = barKey(bar);
      if (state.sent.get(minute) === key) stats.barsUnchanged++;
      else {
        state.sent.set(minute, key);
        fresh.push(bar);
      }
      state.lastBarMinute = Math.max(state.lastBarMinute ?? minute, minute);
    }
    for (let i = 0; i < fresh.length; i += opts.batchMaxBars) ctx.emitBars(fresh.slice(i, i + opts.batchMaxBars));
    stats.barsEmitted += fresh.length;
    if (state.lastBarMinute !== undefined) {
      // Only minutes the next poll reads again can come back; older keys are dead weight.
      for (const minute of state.sent.keys()) if (minute < state.lastBarMinute - opts.overlapMs) state.sent.delete(minute);
    }
    const quote = outcome.quote;
    if (quote && (state.lastMarketTime === undefined || quote.time > state.lastMarketTime)) {
      state.lastMarketTime = quote.time;
      stats.observations++;
      ctx.emit([quote.observation]);
    }
  }

  /**
   * The chart bodies of [from, end), one request per page of at most `pageMs`, oldest first. A page
   * Yahoo refuses with 422 ("1m data not available ... within the last 30 days") no longer exists
   * there: it is skipped (`onSkipped`) and the pages after it are read, unless it is the last page
   * of a window reaching the present (`endIsNow`), where a 422 means something else is wrong.
   */
  async function* pages(
    yahooSymbol: string,
    from: number,
    end: number,
    call: { signal?: AbortSignal; maxAttempts: number; endIsNow: boolean; onSkipped(to: number, error: YahooApiError): void },
  ) {
    for (let start = from; start < end; ) {
      const to = Math.min(start + opts.pageMs, end);
      try {
        yield await client.chart(yahooSymbol, Math.floor(start / 1000), Math.ceil(to / 1000), call);
      } catch (error) {
        if (!(error instanceof YahooApiError && error.status === 422 && (to < end || !call.endIsNow))) throw error;
        call.onSkipped(to, error);
      }
      start = to;
    }
  }

  /** Reads one symbol from where its bars stopped up to now. */
  async function poll(ctx: StreamContext, symbol: string, yahooSymbol: string): Promise<void> {
    const state = stateOf(symbol);
    const now = Date.now();
    let from = state.lastBarMinute !== undefined ? state.lastBarMinute - opts.overlapMs : now - opts.initialLookbackMs;
    from = Math.max(from, state.skipBefore ?? from);
    const oldest = now - opts.maxHistoryMs;
    if (from < oldest) {
      ctx.logger.warn({ symbol, from: new Date(from).toISOString(), oldest: new Date(oldest).toISOString() }, 'Yahoo keeps no 1m bars that old; the minutes before are left to gap-fill');
      from = oldest;
    }
    const onSkipped = (to: number, error: YahooApiError) => {
      state.skipBefore = to;
      ctx.logger.warn({ symbol, to: new Date(to).toISOString(), err: error.description }, 'Yahoo no longer has these 1m bars; reading on after them');
    };
    // One minute past now, so the minute that is running is in the window whatever the clocks say.
    for await (const text of pages(yahooSymbol, from, now + MINUTE_MS, { signal: ctx.signal, maxAttempts: 1, endIsNow: true, onSkipped })) take(ctx, symbol, text);
  }

  /**
   * Polls every active symbol once. An unknown symbol is rejected and dropped for this run; another
   * refusal is logged and the symbol tried again next round; a transient failure (network, 5xx,
   * timeout, a long 429) ends the round, since the others would fail the same way.
   */
  async function round(ctx: StreamContext, active: Map<string, string>): Promise<Error | undefined> {
    stats.rounds++;
    return pollRound(active, {
      signal: ctx.signal,
      poll: ([symbol, yahooSymbol]) => poll(ctx, symbol, yahooSymbol),
      transient: isTransient,
      judge: (error, [symbol, yahooSymbol]) => {
        if (!(error instanceof YahooApiError && error.unknownSymbol)) return undefined;
        stats.rejected++;
        ctx.reject({ symbol, reason: 'unknown_symbol', detail: `Yahoo does not know ${yahooSymbol}: ${error.description}`, sample: error.message });
        ctx.logger.warn({ symbol, yahooSymbol }, 'Yahoo does not know this symbol; not asking for it again until the stream restarts');
        active.delete(symbol);
        return 'next';
      },
      refused: (error, [symbol]) => ctx.logger.warn({ symbol, err: error.message }, 'Yahoo refused the chart request; trying again next round'),
    });
  }

  return {
    // Where each symbol's bars stopped is kept here and read from on the next poll; history() has
    // nothing to replay anyway.
    ...resumingSource('yahoo', options),
    stats,

    async stream(ctx: StreamContext) {
      logger.use(ctx.logger);
      const active = new Map(acceptedSymbols(ctx, toYahooSymbol, (e) => e instanceof YahooSymbolError, { stats }));
      const schedule: YahooPollState = { lastRoundAt: -Infinity, lastRoundInSession: false, failures: 0 };
      const outages = new OutageClock(ctx, stats);
      await pollUntilStopped(ctx.signal, () => active.size > 0, async () => {
        const now = Date.now();
        const { due, inSession } = yahooPollDue(now, schedule, opts);
        let delayMs = opts.pollMs;
        if (due) {
          schedule.lastRoundAt = now;
          schedule.lastRoundInSession = inSession;
          const failed = await round(ctx, active);
          if (ctx.signal.aborted) return 'stop';
          if (failed) {
            stats.failedRounds++;
            outages.lost(failed.message, failed.message, now);
            delayMs = backoffDelay(schedule.failures++, opts.initialBackoffMs, opts.maxBackoffMs, random);
            outages.backingOff(delayMs);
            ctx.logger.warn({ err: failed.message, retryInMs: delayMs, failures: schedule.failures }, 'Yahoo poll failed; retrying');
          } else {
            schedule.failures = 0;
            const outage = outages.live();
            if (outage) ctx.logger.info({ ...outage }, 'Yahoo answers again; polls read on from where each symbol stopped');
          }
        }
        return delayMs;
      });
    },

    // Yahoo has no trades to replay: its minute bars are what hand-overs and restarts need, and the
    // first poll of each symbol reads them back `initialLookbackMs`, so history() yields nothing.
    async *history() {
      return;
    },

    async *bars({ symbol, from, to, signal, reject: refuse }: HistoryRequest) {
      const yahooSymbol = toYahooSymbol(symbol);
      const now = Date.now();
      const start = Math.max(from.getTime(), now - opts.maxHistoryMs);
      const end = Math.min(to.getTime(), now + MINUTE_MS);
      const onSkipped = () => {}; // those minutes are gone at Yahoo: nothing to give
      for await (const text of pages(yahooSymbol, start, end, { signal, maxAttempts: opts.maxAttempts, endIsNow: false, onSkipped })) {
        const outcome = parseChart(text, { symbol, now: Date.now(), maxFutureMs: opts.maxFutureMs });
        if (outcome.kind === 'error') throw new YahooApiError(200, outcome.code, outcome.description);
        if (outcome.kind === 'rejected') throw new YahooApiError(200, null, `${outcome.rejection.reason}: ${outcome.rejection.detail}`);
        // Refused rows go to the caller with their minute; the quote's own refusals are the live poll's business.
        for (const rejection of outcome.rejections) if (rejection.barMinute !== undefined) refuse?.(rejection);
        const page = outcome.bars.filter((bar) => {
          const openTime = Date.parse(bar.openTime);
          return openTime >= from.getTime() && openTime < to.getTime();
        });
        if (page.length > 0) yield page;
      }
    },
  };
}

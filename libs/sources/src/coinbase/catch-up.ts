import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamContext } from '../source.js';
import { IdCatchUp, TradeIdGaps, type IdGap } from '../kit/id-gaps.js';
import type { CoinbaseSourceOptions } from './coinbase-source.js';
import { jsonIdInteger } from '../kit/json-id.js';
import { checkTradeRow, type CheckContext } from './frames.js';
import { CoinbaseApiError, type CoinbaseRest } from './rest.js';
import { SubscribedProducts, toCoinbaseProduct } from './symbols.js';

export type CoinbaseCatchUpSettings = Pick<CoinbaseSourceOptions, 'pageLimit' | 'maxCatchUpTrades' | 'restLagToleranceMs' | 'boundWaitMs' | 'heartbeatGraceMs'>;

export interface CoinbaseCatchUpStats {
  rejected: number;
  catchUp: { gaps: number; fromHeartbeat: number; trades: number; gaveUp: number };
}

// While the subscription's first trade has not bounded a gap yet, look again this often.
const BOUND_POLL_MS = 25;

/** The trade id of a trades row, NaN when it has none. */
export function rowId(row: unknown): number {
  return typeof row === 'object' && row !== null ? jsonIdInteger((row as { trade_id?: unknown }).trade_id) : Number.NaN;
}

/**
 * Coinbase's catch-up: trade-id gaps (kit/id-gaps.ts) found after a reconnect, on a jump in ids, or
 * when a heartbeat's `last_trade_id` stays ahead of what was delivered; filled by paging
 * `/products/{id}/trades` forward with the `before` cursor (rows come newest first).
 */
export class CoinbaseCatchUp {
  readonly ids: TradeIdGaps;
  /** Per product: a heartbeat named this trade id before the stream delivered it. */
  private readonly reported = new Map<string, { id: number; at: number }>();

  constructor(
    private readonly rest: CoinbaseRest,
    private readonly opts: CoinbaseCatchUpSettings,
    private readonly stats: CoinbaseCatchUpStats,
    private readonly checkContext: (subscribed: SubscribedProducts) => CheckContext,
    private readonly random: () => number,
  ) {
    const { pageLimit, maxCatchUpTrades, restLagToleranceMs } = opts;
    this.ids = new TradeIdGaps({ provider: 'Coinbase', pageLimit, maxCatchUpTrades, restLagToleranceMs, counts: stats.catchUp });
  }

  /** The catch-up of one `stream()` call. */
  forStream(ctx: StreamContext, subscribed: SubscribedProducts): IdCatchUp {
    return new IdCatchUp(
      this.ids,
      {
        provider: 'Coinbase',
        symbols: () => subscribed.symbols(),
        fill: (symbol, gap) => this.fillGap(ctx, subscribed, symbol, gap),
        refused: (error) => error instanceof CoinbaseApiError && error.status >= 400 && error.status < 500 && error.status !== 429,
        serves: (symbol) => subscribed.lookup(toCoinbaseProduct(symbol)) !== undefined,
      },
      ctx,
      this.random,
    );
  }

  /** A connection opened: heartbeats of the last one say nothing about this one. */
  opened(catchUp: IdCatchUp): void {
    this.reported.clear();
    catchUp.opened();
  }

  /**
   * A heartbeat: a `last_trade_id` beyond the last delivered id that is still beyond it one grace
   * period later means matches were lost on a connection that otherwise looks fine.
   */
  heartbeat(ctx: StreamContext, catchUp: IdCatchUp, symbol: string, lastTradeId: number): void {
    const state = this.ids.state(symbol);
    // Some feeds have sent last_trade_id 0 throughout (go-coinbasepro#89): no information.
    if (lastTradeId === 0 || state.lastId === undefined) return;
    // The reconnect gap runs to the newest trade anyway.
    if (state.openGap && !state.openGap.done) return;
    const now = Date.now();
    const named = this.reported.get(symbol);
    if (named && state.lastId >= named.id) this.reported.delete(symbol);
    else if (named && now - named.at >= this.opts.heartbeatGraceMs) {
      this.reported.delete(symbol);
      const from = state.lastId + 1;
      state.lastId = named.id;
      catchUp.owe(symbol, { from, to: named.id, done: false });
      this.stats.catchUp.fromHeartbeat++;
      ctx.logger.info({ symbol, from, to: named.id }, 'Coinbase heartbeat names trades the stream did not deliver; catching up');
    }
    if (!this.reported.has(symbol) && lastTradeId > state.lastId) this.reported.set(symbol, { id: lastTradeId, at: now });
  }

  /** The trade with the highest id <= `id` (`after` is exclusive), or null when there is none that old. */
  private async tradeAtOrBefore(productId: string, id: number, signal?: AbortSignal): Promise<{ id: number; timeUs: number } | null> {
    const { rows } = await this.rest.trades(productId, { after: id + 1 }, 1, signal);
    return rows.length === 0 ? null : this.rowPosition(rows[0], productId);
  }

  private rowPosition(row: unknown, productId: string): { id: number; timeUs: number } {
    const subscribed = new SubscribedProducts([productId.replace('-', '/')]);
    const checked = checkTradeRow(row, productId, { subscribed, now: Date.now(), maxFutureMs: Number.MAX_SAFE_INTEGER });
    if (!checked.ok) throw new CoinbaseApiError(200, `unreadable trade row: ${checked.rejection.detail}`);
    return { id: checked.trade.id, timeUs: checked.trade.timeUs };
  }

  /**
   * A trade id from which paging forward (`before`) reaches every trade at or after `timeMs` within
   * one page; null when no trade is that recent. The trades endpoint has no time parameter, so this
   * gallops back from the newest trade and bisects by id: a few requests even for a day-old instant.
   */
  async cursorBefore(productId: string, timeMs: number, signal?: AbortSignal): Promise<number | null> {
    const targetUs = timeMs * 1000;
    const { rows } = await this.rest.trades(productId, {}, 1, signal);
    if (rows.length === 0) return null;
    const newest = this.rowPosition(rows[0], productId);
    if (newest.timeUs < targetUs) return null;
    let hi = newest.id; // a trade at or after the target
    let lo: number; // a trade id before the target (or no trade at all)
    for (let step = this.opts.pageLimit; ; step *= 4) {
      const probe = hi - step;
      if (probe <= 0) {
        lo = 0;
        break;
      }
      const found = await this.tradeAtOrBefore(productId, probe, signal);
      if (!found || found.timeUs < targetUs) {
        lo = probe;
        break;
      }
      hi = Math.min(hi, found.id);
    }
    while (hi - lo > this.opts.pageLimit) {
      const mid = Math.floor((lo + hi) / 2);
      const found = await this.tradeAtOrBefore(productId, mid, signal);
      if (!found || found.timeUs < targetUs) lo = mid;
      else hi = Math.max(lo + 1, Math.min(hi, found.id));
    }
    return lo;
  }

  /** Pages trades forward (`before` cursor) over a gap. */
  private async fillGap(ctx: StreamContext, subscribed: SubscribedProducts, symbol: string, gap: IdGap): Promise<void> {
    const productId = toCoinbaseProduct(symbol);
    if (gap.to === null) {
      // last_match follows the subscription within a round trip; without one (no trade yet, a
      // refused subscription) the gap is paged up to the newest trade.
      const deadline = Date.now() + this.opts.boundWaitMs;
      while (gap.to === null && !gap.done && Date.now() < deadline) await sleep(BOUND_POLL_MS, undefined, { signal: ctx.signal });
      if (gap.done) return;
    }
    if (gap.to !== null && !Number.isNaN(gap.from) && gap.from > gap.to) {
      gap.done = true; // the subscription's first trade follows the last delivered one: nothing missed
      return;
    }
    if (Number.isNaN(gap.from) && gap.fromTimeMs !== undefined) {
      if (gap.toTimeUs !== undefined && gap.toTimeUs < gap.fromTimeMs * 1000) {
        gap.done = true; // the newest trade at subscription predates the ask: nothing missed
        return;
      }
      // No delivered trade yet: start from the first trade at or after the time the symbol was asked for.
      const cursor = await this.cursorBefore(productId, gap.fromTimeMs, ctx.signal);
      if (cursor === null) {
        gap.done = true; // no trade since then: nothing was missed
        return;
      }
      gap.from = cursor + 1;
    }
    await this.ids.fill(
      symbol,
      gap,
      {
        fetch: async (fromId) => [...(await this.rest.trades(productId, { before: Math.max(0, fromId - 1) }, this.opts.pageLimit, ctx.signal)).rows].reverse(),
        idOf: rowId,
        check: (row) => {
          const checked = checkTradeRow(row, productId, this.checkContext(subscribed));
          return checked.ok ? { ok: true, observation: checked.trade.observation, timeUs: checked.trade.timeUs } : checked;
        },
      },
      { emit: (page) => ctx.emit(page), reject: (rejection) => {
          this.stats.rejected++;
          ctx.reject(rejection);
        }, logger: ctx.logger, signal: ctx.signal },
    );
  }
}

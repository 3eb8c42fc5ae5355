import { UNSIGNED_DECIMAL, type RejectReason } from '@tickvault/schema';
import type { SourceBar, SourceRejection } from '../source.js';
import { EARLIEST_MS, isObject, LATEST_MS, parseObjectFrame, refusal, SAMPLE_CHARS, subscribedSymbol, idAndPrice, type CheckedTrade, type SubscribedCheckContext, type TradeCheck } from '../kit/checks.js';
import { fromBinanceSymbol, type SubscribedSymbols } from './symbols.js';

/** Frames above this are refused unread (`oversized`): a trade event is a few hundred bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;

export interface BinanceTrade extends CheckedTrade {
  /** Binance trade id: per symbol, numeric, increasing by one per trade. */
  id: number;
  /** Trade time, ms since the epoch. */
  time: number;
}

export type FrameOutcome =
  | { kind: 'trade'; trade: BinanceTrade }
  | { kind: 'shutdown'; detail: string }
  /** Subscription replies and server error notices: nothing to store, nothing wrong with the data. */
  | { kind: 'control'; detail: string }
  | { kind: 'rejected'; rejection: SourceRejection };

export type CheckContext = SubscribedCheckContext<SubscribedSymbols>;

const reject = refusal;

/**
 * One trade as Binance describes it (stream `s t p q T`, REST `id price qty time`), checked field
 * by field: the symbol must be one this stream subscribed to, the id a non-negative integer, the
 * price a positive decimal string, the size a non-negative decimal string, the time a plausible
 * instant not ahead of the clock. Prices and sizes are kept exactly as sent.
 */
export function checkTrade(
  fields: { symbol: unknown; id: unknown; price: unknown; qty: unknown; time: unknown },
  sample: string,
  ctx: CheckContext,
): TradeCheck<BinanceTrade> {
  const symbol = subscribedSymbol(fields.symbol, 'a symbol', ctx, sample, fromBinanceSymbol);
  if (typeof symbol !== 'string') return symbol;
  const checked = idAndPrice(fields.id, fields.price, sample, symbol);
  if (!checked.ok) return checked;
  const { id, price } = checked;
  const { qty, time } = fields;
  if (typeof qty !== 'string' || !UNSIGNED_DECIMAL.test(qty)) {
    return reject('invalid_size', `quantity ${JSON.stringify(qty)} is not a non-negative decimal string`, sample, symbol);
  }
  // 2000-01-01 .. 2100-01-01: anything else is a unit or parsing error, not a trade time.
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < EARLIEST_MS || time >= LATEST_MS) {
    return reject('invalid_timestamp', `trade time ${JSON.stringify(time)} is not a millisecond timestamp`, sample, symbol);
  }
  if (time > ctx.now + ctx.maxFutureMs) {
    return reject('future_timestamp', `trade time ${new Date(time).toISOString()} is ahead of the clock by more than ${ctx.maxFutureMs} ms`, sample, symbol);
  }
  return {
    ok: true,
    trade: { symbol, id, time, observation: { symbol, ts: new Date(time).toISOString(), price, size: qty, tradeId: String(id) } },
  };
}

function isShutdown(obj: Record<string, unknown>): boolean {
  // The documented form is {"event":{"e":"serverShutdown","E":..}}; accept the bare and the
  // combined-stream wrappings too, since reconnecting early costs nothing.
  const nested = [obj, obj.event, obj.data];
  return nested.some((o) => isObject(o) && o.e === 'serverShutdown');
}

/**
 * Classifies one WebSocket frame of a combined (`{"stream":..,"data":..}`) or raw trade stream.
 * Never throws: whatever arrives is a trade, a control message, a shutdown notice or a rejection.
 */
export function parseFrame(text: string, byteLength: number, ctx: CheckContext): FrameOutcome {
  const frame = parseObjectFrame(text, byteLength, MAX_FRAME_BYTES);
  if (!frame.ok) return { kind: 'rejected', rejection: frame.rejection };
  const parsed = frame.value;
  if (isShutdown(parsed)) return { kind: 'shutdown', detail: text.slice(0, 200) };
  if ('id' in parsed && ('result' in parsed || 'error' in parsed)) return { kind: 'control', detail: text.slice(0, 200) };
  if ('code' in parsed && 'msg' in parsed && !('data' in parsed)) return { kind: 'control', detail: text.slice(0, 200) };

  const payload = 'stream' in parsed && 'data' in parsed ? parsed.data : parsed;
  if (!isObject(payload)) return { kind: 'rejected', rejection: reject('malformed', 'stream frame without an event object', text).rejection };
  if (payload.e !== 'trade') {
    const named = typeof payload.s === 'string' ? (ctx.subscribed.lookup(payload.s) ?? fromBinanceSymbol(payload.s)) : null;
    return { kind: 'rejected', rejection: reject('malformed', `unexpected event type ${JSON.stringify(payload.e ?? null)}`, text, named).rejection };
  }
  const checked = checkTrade({ symbol: payload.s, id: payload.t, price: payload.p, qty: payload.q, time: payload.T }, text, ctx);
  return checked.ok ? { kind: 'trade', trade: checked.trade } : { kind: 'rejected', rejection: checked.rejection };
}

/** A row of `GET /api/v3/historicalTrades` (`{"id","price","qty","quoteQty","time","isBuyerMaker","isBestMatch"}`). */
export function checkTradeRow(row: unknown, binanceSymbol: string, ctx: CheckContext): TradeCheck<BinanceTrade> {
  const sample = JSON.stringify(row) ?? String(row);
  if (!isObject(row)) return reject('malformed', 'trade row is not an object', sample);
  return checkTrade({ symbol: binanceSymbol, id: row.id, price: row.price, qty: row.qty, time: row.time }, sample, ctx);
}

export type KlineCheck = { ok: true; bar: SourceBar; openMs: number } | { ok: false; rejection: SourceRejection };

/**
 * A kline row `[openTime, "o", "h", "l", "c", "v", closeTime, "q", trades, ...]` as a one-minute
 * SourceBar, or a rejection carrying the minute it stood for (null when its open time is unreadable),
 * so gap-fill can keep that minute open. High/low bounds are the bar schema's (exact) check.
 */
export function checkKline(symbol: string, row: unknown): KlineCheck {
  const sample = JSON.stringify(row) ?? String(row);
  const refuse = (reason: RejectReason, detail: string, barMinute: number | null): KlineCheck => ({
    ok: false,
    rejection: { symbol, reason, detail, sample: sample.slice(0, SAMPLE_CHARS), barMinute },
  });
  if (!Array.isArray(row) || row.length < 9) return refuse('malformed', 'kline row is not [openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, ...]', null);
  const [openTime, open, high, low, close, volume, , , trades] = row as unknown[];
  if (typeof openTime !== 'number' || !Number.isSafeInteger(openTime) || openTime % 60_000 !== 0) {
    return refuse('invalid_bar', `kline open time ${JSON.stringify(openTime)} is not a minute start in ms`, null);
  }
  const prices = { open, high, low, close, volume };
  for (const [field, value] of Object.entries(prices)) {
    if (typeof value !== 'string' || !UNSIGNED_DECIMAL.test(value)) return refuse('invalid_bar', `kline ${field} ${JSON.stringify(value)} is not a decimal string`, openTime);
  }
  return {
    ok: true,
    openMs: openTime,
    bar: {
      symbol,
      openTime: new Date(openTime).toISOString().replace('.000Z', 'Z'),
      open: open as string, high: high as string, low: low as string, close: close as string, volume: volume as string,
      tradeCount: typeof trades === 'number' && Number.isSafeInteger(trades) && trades >= 0 ? trades : null,
    },
  };
}

import type { StreamContext } from '../source.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { reconnectLoop, untilAborted, type ReconnectOptions } from './reconnect.js';
import type { SessionEnd } from './ws-session.js';
import type { StreamOptions } from './stream-options.js';
import type { LateLogger } from './late-logger.js';

/** The catch-up a trade stream runs beside its connection: resumed at the start, drained at the stop. */
export interface StreamCatchUp {
  resume(): void;
  stop(): Promise<void>;
}

/** What a trade source streams with, the same for each of its `stream()` calls. */
export interface TradeStreamSource extends Pick<ReconnectOptions, 'stats' | 'random'> {
  /** The source's REST logger: it logs to this call's logger from now on. */
  logger: LateLogger;
  opts: Pick<StreamOptions, 'batchMs' | 'batchMaxTrades'>;
}

/** One `stream()` call's catch-up and connection, and how it reconnects and logs. */
export interface TradeStreamRun<C extends StreamCatchUp> extends Pick<ReconnectOptions, 'next' | 'onLive' | 'onRetry'> {
  /** Made once the stream has symbols, before the first connection. */
  catchUp(): C;
  connect(batcher: Batcher, catchUp: C, live: (at: number) => void): Promise<SessionEnd>;
}

/**
 * The lifecycle every trade stream shares: with no symbols, idle until stopped; else batch the live
 * trades, run the catch-up beside the connection, reconnect until stopped, then flush what is batched
 * and let the catch-up finish.
 */
export async function streamTrades<C extends StreamCatchUp>(ctx: StreamContext, symbols: readonly string[], source: TradeStreamSource, run: TradeStreamRun<C>): Promise<void> {
  source.logger.use(ctx.logger);
  if (symbols.length === 0) return untilAborted(ctx.signal);
  const batching: BatcherOptions = { maxMs: source.opts.batchMs, maxTrades: source.opts.batchMaxTrades };
  const batcher = new Batcher((batch) => ctx.emit(batch), batching);
  const catchUp = run.catchUp();
  catchUp.resume();
  await reconnectLoop({
    ctx,
    stats: source.stats,
    random: source.random,
    connect: (live) => run.connect(batcher, catchUp, live),
    next: run.next,
    onLive: run.onLive,
    onRetry: run.onRetry,
  });
  batcher.flush();
  await catchUp.stop();
}

/** The connected, reconnected and closed log lines of a stream named `name` (`Binance stream`), with `size` in each. */
export function streamLogLines(ctx: Pick<StreamContext, 'logger'>, name: string, size: () => Record<string, number>): Pick<ReconnectOptions, 'onLive' | 'onRetry'> {
  return {
    onLive: (outage) =>
      outage ? ctx.logger.info({ reason: outage.reason, downMs: outage.downMs, ...size() }, `${name} reconnected`) : ctx.logger.info(size(), `${name} connected`),
    onRetry: (end, retryInMs, attempt) => ctx.logger.warn({ reason: end.reason, detail: end.detail, retryInMs, attempt }, `${name} closed; reconnecting`),
  };
}

import type { RedisClient } from '@tickvault/queue';
import { errorMessage, type Logger } from '@tickvault/runtime';
import type { MarketSource, SourceRejection } from '@tickvault/sources';
import type { DeliveredProgress } from './delivered-progress.js';
import { DeliveryDeadlineError } from './outbox.js';
import type { IngestPipeline } from './pipeline.js';
import { SourceConnection } from './source-connection.js';

// A source whose stream throws is restarted after this pause rather than taking the process down.
const SOURCE_RESTART_MS = 2_000;
// A replay goes back at most this far; an older gap needs a backfill (gap-fill arrives with the scheduler).
const MAX_HANDOVER_REPLAY_MS = 60 * 60_000;
// How long one wait for a replay's data to reach Redis lasts before it is logged and waited for again.
const REPLAY_DELIVERY_WAIT_MS = 60_000;

/**
 * Runs one source for the symbols this replica currently holds, restarting its stream when the
 * set changes. Progress (the newest tick per symbol that Redis has taken) is kept in Redis, so a
 * replica that takes a symbol over replays it from there through the source's history; after any
 * restart of its own stream it replays the symbols it kept from the last one it saw. Either way the
 * cost is duplicates, which the writer's natural key absorbs, never a hole. Two rules keep the saved
 * progress behind anything not yet in Redis: a symbol's first owner records the moment it took the
 * symbol (so a replica dying before its first save still leaves a point to replay from), and while a
 * replay of a symbol is running or its data is not yet in Redis, that symbol's progress is not saved.
 */
export class SourceRunner {
  private symbols: readonly string[] = [];
  private streamAbort: AbortController | undefined;
  private readonly lastSeen = new Map<string, string>();
  /** Replays per symbol whose data is not yet all in Redis: the symbol's saved progress waits for them. */
  private readonly replaysOpen = new Map<string, number>();
  private loop: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly progressKey: string;
  /** Connected, connecting, reconnecting or idle, and since when: for metrics and the service registry. */
  readonly connection: SourceConnection;

  constructor(
    private readonly source: MarketSource,
    private readonly pipeline: IngestPipeline,
    private readonly redis: RedisClient,
    private readonly options: {
      prefix: string;
      service: string;
      logger: Logger;
      delivered: DeliveredProgress;
      onReconnect?: (sourceId: string) => void;
      /** The connection state changed (not called for messages). */
      onConnectionChange?: (sourceId: string) => void;
    },
  ) {
    this.progressKey = `${options.prefix}:ingest-progress:${options.service}:${source.id}`;
    this.connection = new SourceConnection(source.id, () => options.onConnectionChange?.(source.id));
  }

  /** The symbols this replica streams now. */
  get heldSymbols(): readonly string[] {
    return this.symbols;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Called when the held symbols change; `acquired` are replayed from their last known progress. */
  setSymbols(symbols: readonly string[], acquired: readonly string[]): void {
    this.symbols = symbols;
    // Taken before the stream restarts below, so no trade of the new stream is older than it.
    const acquiredAt = new Date().toISOString();
    for (const symbol of acquired) void this.replay(symbol, acquiredAt);
    this.streamAbort?.abort();
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.streamAbort?.abort();
    this.wake?.();
    await this.loop;
    await this.saveProgress();
  }

  /**
   * Writes the newest delivered tick time per held symbol (called a few times per lease TTL), held
   * back to what the source still owes: a gap it would have caught up dies with this process.
   */
  async saveProgress(): Promise<void> {
    const entries = this.symbols
      .map((symbol) => [symbol, this.progressOf(symbol)] as const)
      .filter((entry): entry is readonly [string, string] => entry[1] !== undefined);
    if (entries.length === 0) return;
    try {
      await this.redis.hset(this.progressKey, Object.fromEntries(entries));
    } catch (error) {
      this.options.logger.debug({ err: errorMessage(error) }, 'could not save ingest progress');
    }
  }

  private progressOf(symbol: string): string | undefined {
    if (this.replaysOpen.has(symbol)) return undefined;
    const delivered = this.options.delivered.get(this.source.id, symbol);
    const owed = this.source.owedSince?.(symbol);
    if (delivered === undefined || owed === undefined || owed >= Date.parse(delivered)) return delivered;
    return new Date(owed).toISOString();
  }

  private async run(): Promise<void> {
    const logger = this.options.logger.child({ source: this.source.id });
    let restarted = false;
    while (!this.stopped) {
      if (this.symbols.length === 0) {
        this.connection.idle();
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (restarted && !this.source.resumesItself) {
        // Trades of kept symbols between the old stream's end and the new one's start.
        for (const symbol of this.symbols) {
          const seen = this.lastSeen.get(symbol);
          if (seen) void this.replayFrom(symbol, seen, 'stream restart');
        }
      }
      restarted = true;
      this.streamAbort = new AbortController();
      this.connection.streaming();
      try {
        await this.source.stream({
          symbols: this.symbols,
          emit: (observations) => {
            this.connection.message();
            for (const o of observations) {
              const seen = this.lastSeen.get(o.symbol);
              if (!seen || Date.parse(o.ts) > Date.parse(seen)) this.lastSeen.set(o.symbol, o.ts);
            }
            this.pipeline.accept(this.source, observations);
          },
          emitBars: (bars) => {
            this.connection.message();
            this.pipeline.acceptBars(this.source, bars);
          },
          reject: (rejection) => {
            this.connection.message();
            this.pipeline.reject(this.source.id, rejection);
          },
          logger,
          signal: this.streamAbort.signal,
          onReconnect: () => this.options.onReconnect?.(this.source.id),
          onConnected: () => this.connection.connected(),
          onDisconnected: (reason) => this.connection.disconnected(reason),
        });
      } catch (error) {
        logger.error({ err: errorMessage(error) }, 'source stream failed; restarting');
        this.connection.disconnected(`stream failed: ${errorMessage(error)}`);
        await new Promise((r) => setTimeout(r, SOURCE_RESTART_MS));
      }
    }
  }

  /** Takes a symbol over: replays it from the progress its last owner saved, or records that it is new. */
  private async replay(symbol: string, acquiredAt: string): Promise<void> {
    const release = this.holdProgress(symbol);
    try {
      let from: string | null;
      try {
        // A symbol nobody owned before starts now: recorded at once, so an owner that dies before its
        // first progress save still leaves its successor a point to replay from.
        const first = await this.redis.hsetnx(this.progressKey, symbol, acquiredAt);
        from = first === 1 ? null : await this.redis.hget(this.progressKey, symbol);
      } catch (error) {
        this.options.logger.warn({ source: this.source.id, symbol, err: errorMessage(error) }, 'no handover progress readable; this gap stays open');
        return;
      }
      if (from) await this.replayFrom(symbol, from, 'takeover');
    } finally {
      release();
    }
  }

  private async replayFrom(symbol: string, from: string, why: string): Promise<void> {
    if (this.stopped) return;
    const release = this.holdProgress(symbol);
    const to = new Date();
    const start = new Date(Math.max(Date.parse(from), to.getTime() - MAX_HANDOVER_REPLAY_MS));
    const position = this.pipeline.position;
    let replayed = 0;
    let refused = 0;
    // A refused row of the provider's answer is recorded like a refused live frame: its trade is missing, visibly.
    const reject = (rejection: SourceRejection) => {
      refused++;
      this.pipeline.reject(this.source.id, rejection);
    };
    try {
      for await (const page of this.source.history({ symbol, from: start, to, reject })) {
        this.pipeline.accept(this.source, page);
        replayed += page.length;
      }
      await this.replayDelivered(position, symbol);
      this.options.logger.info({ source: this.source.id, symbol, why, from: start.toISOString(), replayed, refused }, 'replayed history');
    } catch (error) {
      this.options.logger.warn({ source: this.source.id, symbol, why, err: errorMessage(error) }, 'history replay failed; this gap stays open until it is backfilled');
    } finally {
      release();
    }
  }

  /** Waits until what the pipeline took since `position` is in Redis; throws if the outbox dropped some. */
  private async replayDelivered(position: number, symbol: string): Promise<void> {
    for (;;) {
      try {
        return await this.pipeline.delivered(position, Date.now() + REPLAY_DELIVERY_WAIT_MS);
      } catch (error) {
        if (this.stopped || !(error instanceof DeliveryDeadlineError)) throw error;
        this.options.logger.warn({ source: this.source.id, symbol }, 'replayed history not in Redis yet; progress for this symbol waits');
      }
    }
  }

  /** Keeps the symbol's saved progress where it is until the returned function is called. */
  private holdProgress(symbol: string): () => void {
    this.replaysOpen.set(symbol, (this.replaysOpen.get(symbol) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const open = (this.replaysOpen.get(symbol) ?? 1) - 1;
      if (open > 0) this.replaysOpen.set(symbol, open);
      else this.replaysOpen.delete(symbol);
    };
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../backoff.js';
import type { SourceLogger } from '../source.js';
import type { BackoffRange } from './reconnect.js';

/** How one attempt at a gap ended. */
export type Settled = 'filled' | 'refused' | 'retry' | 'stopped';

/** What a provider supplies: where its gaps are kept and how one is filled over REST. */
export interface GapWork<G> {
  /** For log lines: `Binance`, `Coinbase`, `Alpaca`. */
  provider: string;
  /** The gap to fill next for this symbol (left on its list or taken off), or undefined when none is owed. */
  next(symbol: string): G | undefined;
  /** Fills the gap over REST, keeping progress in it so that a retry resumes where this one stopped. */
  fill(symbol: string, gap: G): Promise<void>;
  /** The provider will not answer this however often it is asked (a 4xx but 429): the gap goes to gap-fill. */
  refused(error: unknown): boolean;
  /** Wait before retrying after this error; `loud` logs the retry as an error (an operator must act). */
  retryAfter(error: unknown): BackoffRange & { loud?: boolean };
  /** The attempt ended so: put a taken gap back (`retry`, `stopped`), give it up and count it (`refused`). */
  settle(symbol: string, gap: G, how: Settled): void;
  /** Log fields naming the gap. */
  describe(gap: G): object;
}

// The first retry of a failing catch-up after about a second, then doubling up to half a minute: REST
// failures are usually a 429 or a short outage, and the live stream carries on meanwhile.
export const CATCH_UP_RETRY: BackoffRange = { initialMs: 1000, maxMs: 30_000 };

/**
 * The catch-up workers of one `stream()` call: at most one per symbol, so a symbol's gaps are filled
 * oldest first and one at a time (a provider's REST budget is shared; a symbol never floods it). The
 * gaps themselves live in the provider's state and outlive the call, for the next one to resume.
 */
export class GapWorkers<G> {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly work: GapWork<G>,
    private readonly signal: AbortSignal,
    private readonly logger: SourceLogger,
    private readonly random?: () => number,
  ) {}

  /** Starts the symbol's worker unless it runs already (it will find the new gap). */
  kick(symbol: string): void {
    if (this.running.has(symbol)) return;
    const run = this.drain(symbol).finally(() => this.running.delete(symbol));
    this.running.set(symbol, run);
  }

  /** Resolves once every worker has ended (they end when no gap is owed or the signal aborts). */
  async stop(): Promise<void> {
    await Promise.all(this.running.values());
  }

  private async drain(symbol: string): Promise<void> {
    const { work } = this;
    let failures = 0;
    while (!this.signal.aborted) {
      const gap = work.next(symbol);
      if (gap === undefined) return;
      try {
        await work.fill(symbol, gap);
        work.settle(symbol, gap, 'filled');
        failures = 0;
      } catch (error) {
        if (this.signal.aborted) {
          work.settle(symbol, gap, 'stopped');
          return;
        }
        const err = (error as Error).message;
        if (work.refused(error)) {
          this.logger.error({ symbol, ...work.describe(gap), err }, `${work.provider} catch-up refused; leaving the gap to gap-fill`);
          work.settle(symbol, gap, 'refused');
          continue;
        }
        work.settle(symbol, gap, 'retry');
        const range = work.retryAfter(error);
        const retryInMs = backoffDelay(failures++, range.initialMs, range.maxMs, this.random);
        this.logger[range.loud ? 'error' : 'warn']({ symbol, ...work.describe(gap), retryInMs, err }, `${work.provider} catch-up failed; retrying`);
        await sleep(retryInMs, undefined, { signal: this.signal }).catch(() => {});
      }
    }
  }
}

import type { Observation } from '../source.js';

export interface BatcherOptions {
  /** A batch leaves at most this long after its first trade... */
  maxMs: number;
  /** ...or as soon as it holds this many. */
  maxTrades: number;
}

/**
 * Live trades leave in small batches: one emit per trade would cost the pipeline a queue call each,
 * and a batch that waits for a full load would hold a quiet symbol's trades back.
 */
export class Batcher {
  private buffer: Observation[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (batch: Observation[]) => void,
    private readonly options: BatcherOptions,
  ) {}

  push(observation: Observation): void {
    this.buffer.push(observation);
    if (this.buffer.length >= this.options.maxTrades) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.maxMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.emit(batch);
  }
}

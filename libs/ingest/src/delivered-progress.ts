import type { Tick, TickBatchJob } from '@tickvault/schema';

/**
 * The time of the newest tick per source and symbol that Redis has taken. A replica that takes a
 * symbol over replays from here: anything newer that was still in the old owner's buffer when it
 * died is replayed too, rather than lost.
 */
export class DeliveredProgress {
  private readonly newest = new Map<string, string>();

  record(jobs: readonly TickBatchJob[]): void {
    for (const job of jobs) {
      for (const tick of job.ticks as Tick[]) {
        const key = `${tick.source}\u0001${tick.symbol}`;
        const seen = this.newest.get(key);
        if (seen === undefined || Date.parse(tick.ts) > Date.parse(seen)) this.newest.set(key, tick.ts);
      }
    }
  }

  get(source: string, symbol: string): string | undefined {
    return this.newest.get(`${source}\u0001${symbol}`);
  }
}

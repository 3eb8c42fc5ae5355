import type { Worker } from 'bullmq';
import { errorMessage, backoffDelay, type Logger } from '@tickvault/runtime';
import { withDeadline, type Sql } from '@tickvault/db';

// A select 1 slower than this is an outage for readiness purposes.
const PROBE_DEADLINE_MS = 5_000;

/**
 * Tracks whether Postgres answers. On an outage the workers stop fetching (jobs wait in Redis,
 * spending no attempts), readiness turns false, and a probe with backoff resumes them when
 * Postgres is back. There is no other store to fall back to, by design.
 */
export class DatabaseGate {
  private down = false;
  private since = 0;
  private stopped = false;
  private readonly workers: Worker[] = [];
  private watchTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly onChange: (event: { up: boolean; downForMs: number; error?: string }) => void = () => {},
  ) {}

  get isUp(): boolean {
    return !this.down;
  }

  attach(worker: Worker): void {
    this.workers.push(worker);
  }

  reportDown(error: unknown): void {
    if (this.down || this.stopped) return;
    this.down = true;
    this.since = Date.now();
    const message = errorMessage(error);
    this.logger.error({ err: message }, 'Postgres unreachable: pausing consumption; jobs stay queued until it is back');
    this.onChange({ up: false, downForMs: 0, error: message });
    for (const worker of this.workers) void worker.pause(true).catch(() => {});
    void this.probeUntilUp();
  }

  stop(): void {
    this.stopped = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
  }

  /**
   * Checks Postgres on its own every `everyMs`, so readiness turns false during an outage even
   * when no job is in flight to notice it.
   */
  watch(everyMs: number): void {
    this.watchTimer = setInterval(() => {
      if (this.down || this.stopped) return;
      withDeadline(this.sql`select 1`, PROBE_DEADLINE_MS, 'Postgres health probe').catch((error) => this.reportDown(error));
    }, everyMs);
    this.watchTimer.unref();
  }

  private async probeUntilUp(): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, { initialMs: 500, maxMs: 10_000 })));
      try {
        await withDeadline(this.sql`select 1`, PROBE_DEADLINE_MS, 'Postgres probe');
      } catch (error) {
        this.logger.warn({ attempt, err: errorMessage(error) }, 'Postgres still unreachable');
        continue;
      }
      const downForMs = Date.now() - this.since;
      this.down = false;
      this.logger.info({ downForMs }, 'Postgres is back: resuming consumption');
      this.onChange({ up: true, downForMs });
      for (const worker of this.workers) void worker.resume();
      return;
    }
  }
}

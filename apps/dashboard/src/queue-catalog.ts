import type { Queue } from 'bullmq';
import { registeredQueues, type ServiceEntry } from '@tickvault/queue';

/**
 * The queues the dashboard shows (Bull Board, /api/queues, /metrics): the ones its own configuration
 * names, plus every queue a running service registered (a backfill-alpaca that only ingest-stock's
 * environment configures, tick shards of a stack run with more shards). `queues` is one array that
 * only grows, so everything holding it sees a queue added later; a queue is never dropped when its
 * service stops, since its jobs (failed ones above all) are still worth seeing.
 */
export class QueueCatalog {
  readonly queues: Queue[] = [];
  private readonly known = new Set<string>();

  constructor(
    initial: readonly Queue[],
    private readonly open: (ref: { name: string; prefix: string }) => Queue,
  ) {
    for (const queue of initial) this.add(queue);
  }

  /** Opens a handle for each registered queue not shown yet; returns the names added. */
  addRegistered(services: readonly ServiceEntry[], prefix: string): string[] {
    const added: string[] = [];
    for (const ref of registeredQueues(services, prefix)) {
      if (this.known.has(`${ref.prefix}:${ref.name}`)) continue;
      this.add(this.open(ref));
      added.push(ref.name);
    }
    return added;
  }

  private add(queue: Queue): void {
    if (this.known.has(queue.qualifiedName)) return;
    this.known.add(queue.qualifiedName);
    this.queues.push(queue);
  }
}

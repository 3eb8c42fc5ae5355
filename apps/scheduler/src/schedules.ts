import { JOB_NAMES } from '@tickvault/schema';
import type { MaintenanceQueue } from '@tickvault/queue';

export interface ScheduleSpec {
  id: string;
  pattern: string;
}

/**
 * Makes the queue's job schedulers exactly `specs`: each id upserted (idempotent, so any number of
 * scheduler replicas and restarts leave one scheduled job per id) and every other id removed.
 */
export async function ensureSchedules(queue: MaintenanceQueue, specs: readonly ScheduleSpec[]): Promise<{ removed: string[] }> {
  for (const spec of specs) {
    const name: typeof JOB_NAMES.health | typeof JOB_NAMES.gapFill = spec.id === JOB_NAMES.health ? JOB_NAMES.health : JOB_NAMES.gapFill;
    await queue.upsertJobScheduler(spec.id as typeof name, { pattern: spec.pattern, tz: 'UTC' }, { name, data: { requestedBy: 'schedule' } });
  }
  const wanted = new Set(specs.map((s) => s.id));
  const removed: string[] = [];
  for (const existing of await queue.getJobSchedulers(0, -1)) {
    const id = existing.id ?? existing.key;
    if (!wanted.has(id)) {
      await queue.removeJobScheduler(id);
      removed.push(id);
    }
  }
  return { removed };
}

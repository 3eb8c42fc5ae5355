import { orphanedShardsNow, type ServiceEntry, type SourceStatus } from '@tickvault/queue';
import { DEFAULT_QUEUE_PREFIX, tickShards } from '@tickvault/schema';
import { formatDuration, truncate } from './format.js';

/**
 * A source out of reach for less than this is a reconnect in progress, not yet worth a warning: the
 * providers' own backoff starts at a fraction of a second, and a process that just started is
 * "connecting" for a moment.
 */
export const SOURCE_WARN_AFTER_MS = 30_000;

/** A registry entry as `report --json` prints it: the entry plus how old its last heartbeat is. */
export type ServiceReport = ServiceEntry & { heartbeatAgeMs: number };

export function serviceReports(services: readonly ServiceEntry[], now: number): ServiceReport[] {
  return services.map((s) => ({ ...s, heartbeatAgeMs: Math.max(0, now - Date.parse(s.heartbeatAt)) }));
}

/** "ingest-crypto@host (pid 123)": how an operator finds the process. */
export function serviceLabel(entry: ServiceEntry): string {
  return `${entry.service}@${entry.host} (pid ${entry.pid})`;
}

export function describeSource(source: SourceStatus, now: number): string {
  const out = source.state === 'connecting' || source.state === 'reconnecting';
  const parts = [`${source.source} ${source.state}${out ? ` for ${formatDuration(now - Date.parse(source.since))}` : ''}`];
  if (source.state !== 'idle') parts.push(`${source.symbols.length} symbol${source.symbols.length === 1 ? '' : 's'}`);
  if (source.lastMessageAt) parts.push(`last message ${formatDuration(now - Date.parse(source.lastMessageAt))} ago`);
  if (out && source.reason) parts.push(truncate(source.reason, 80));
  return parts.join(', ');
}

/** What one process runs, in a line: its sources and their state, a writer's shards, else its queues. */
export function describeRuns(entry: ServiceEntry, now: number): string {
  if (entry.ingest) {
    if (entry.ingest.sources.length === 0) return 'no sources (disabled)';
    return entry.ingest.sources.map((s) => describeSource(s, now)).join('; ');
  }
  if (entry.writer) return `tick shard${entry.writer.shards.length === 1 ? '' : 's'} ${entry.writer.shards.join(', ')}`;
  return entry.queues.map((q) => q.name).join(', ') || '-';
}

/**
 * What an operator should look at: sources out of reach for a while, ingest running with no writer
 * registered (its ticks only pile up in Redis), tick shards no live writer consumes (WRITER_SHARDS),
 * processes of different versions, entries unreadable. `shardCount`: the reader's TICK_QUEUE_SHARDS
 * (the registered ingest processes' count is taken when larger).
 */
export function serviceWarnings(services: readonly ServiceEntry[], unreadable: number, now: number, shardCount = 1): string[] {
  const warnings: string[] = [];
  for (const entry of services) {
    for (const source of entry.ingest?.sources ?? []) {
      const out = source.state === 'connecting' || source.state === 'reconnecting';
      if (out && now - Date.parse(source.since) >= SOURCE_WARN_AFTER_MS) {
        warnings.push(`${serviceLabel(entry)}: ${describeSource(source, now)}`);
      }
    }
  }
  if (services.some((s) => s.ingest) && !services.some((s) => s.writer)) {
    warnings.push('ingest services are registered but no writer is: their ticks wait in Redis until one runs');
  }
  const orphaned = orphanedShardsNow(services, shardCount, now);
  if (orphaned.length > 0) {
    // Queue names do not depend on the prefix.
    const names = tickShards(DEFAULT_QUEUE_PREFIX, orphaned.at(-1)! + 1);
    warnings.push(`no live writer consumes tick shard${orphaned.length === 1 ? '' : 's'} ${orphaned.map((i) => `${i} (${names[i]!.name})`).join(', ')}: `
      + 'their jobs wait in Redis until a writer whose WRITER_SHARDS includes them (or all) runs');
  }
  const versions = new Map<string, string[]>();
  for (const entry of services) versions.set(entry.version, [...(versions.get(entry.version) ?? []), entry.service]);
  if (versions.size > 1) {
    warnings.push(`services run different versions: ${[...versions].map(([version, names]) => `${version} (${[...new Set(names)].join(', ')})`).join(', ')}`);
  }
  if (unreadable > 0) warnings.push(`${unreadable} service registry entr${unreadable === 1 ? 'y' : 'ies'} could not be read (another tickvault version?)`);
  return warnings;
}

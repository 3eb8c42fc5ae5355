import { describe, expect, it } from 'vitest';
import { ORPHAN_GRACE_MS, type ServiceEntry } from '@tickvault/queue';
import { serviceWarnings } from './services-summary.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const at = new Date(T0).toISOString();
const base = { v: 1 as const, host: 'h', pid: 1, version: '1', environment: 'test', startedAt: at, heartbeatAt: at, queues: [] };
const writer = (id: string, shards: number[]): ServiceEntry => ({ ...base, id, service: 'writer', writer: { shards } });
const ingest: ServiceEntry = { ...base, id: 'i', service: 'ingest-crypto', ingest: { assetClass: 'crypto', symbols: [], shards: 4, sources: [] } };

describe('serviceWarnings: tick shards without a writer', () => {
  it('names each shard no live writer consumes, with its queue', () => {
    const warnings = serviceWarnings([writer('a', [0, 1]), ingest], 0, T0 + ORPHAN_GRACE_MS, 1);
    expect(warnings).toEqual([
      'no live writer consumes tick shards 2 (ticks-2), 3 (ticks-3): their jobs wait in Redis until a writer whose WRITER_SHARDS includes them (or all) runs',
    ]);
    expect(serviceWarnings([writer('a', [0, 1]), writer('b', [2, 3]), ingest], 0, T0 + ORPHAN_GRACE_MS, 4)).toEqual([]);
    // The reader's own shard count counts too, with no ingest registered.
    expect(serviceWarnings([writer('a', [0])], 0, T0 + ORPHAN_GRACE_MS, 2)[0]).toContain('tick shard 1 (ticks-1):');
  });

  it('says nothing while the writers are younger than a registry TTL (they register at different times)', () => {
    expect(serviceWarnings([writer('a', [0, 1]), ingest], 0, T0 + ORPHAN_GRACE_MS - 1, 1)).toEqual([]);
  });
});

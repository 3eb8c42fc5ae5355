import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis, eventually, REPO_ROOT, type TestRedis } from '@tickvault/testing';
import { createProducerConnection } from './connection.js';
import {
  readServices, registeredQueues, registeredSeries, serviceEntryKey, servicesIndexKey, ServiceRegistration,
  type ServiceDetails, type ServiceEntry,
} from './service-registry.js';

const logs: { level: string; msg: string }[] = [];
const logger = {
  info: (_: object, msg: string) => logs.push({ level: 'info', msg }),
  warn: (_: object, msg: string) => logs.push({ level: 'warn', msg }),
};

describe('service registry (real Redis)', () => {
  let redis: TestRedis;
  const running: ServiceRegistration[] = [];
  const register = (service: string, describe: () => ServiceDetails, timing: { heartbeatMs?: number; ttlMs?: number } = {}) => {
    const registration = new ServiceRegistration({ redis: redis.redis, prefix: redis.prefix, service, describe, logger, ...timing });
    running.push(registration);
    return registration;
  };
  const details = (extra: Partial<ServiceDetails> = {}): ServiceDetails => ({
    environment: 'test',
    queues: [{ name: 'events', prefix: redis.prefix, role: 'produces' }],
    ...extra,
  });

  beforeAll(async () => {
    redis = await createTestRedis();
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    await redis?.cleanup();
  });

  it('writes an entry naming service, host, pid, version and what it runs, with a TTL, and removes it on stop', async () => {
    const sources = [{ source: 'alpaca', state: 'connected' as const, since: new Date().toISOString(), reason: null, lastMessageAt: null, symbols: ['AAPL'] }];
    const ingest = register('ingest-stock', () => details({
      queues: [{ name: 'ticks', prefix: redis.prefix, role: 'produces' }, { name: 'backfill-alpaca', prefix: redis.prefix, role: 'consumes' }],
      ingest: { assetClass: 'stock', symbols: ['AAPL', 'MSFT'], shards: 1, sources },
    }));
    await ingest.start();

    const { services, unreadable } = await readServices(redis.redis, redis.prefix);
    expect(unreadable).toBe(0);
    const version = (JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, 'utf8')) as { version: string }).version;
    expect(services).toEqual([
      expect.objectContaining({
        v: 1, id: ingest.id, service: 'ingest-stock', host: hostname(), pid: process.pid, version, environment: 'test',
        ingest: { assetClass: 'stock', symbols: ['AAPL', 'MSFT'], shards: 1, sources },
      }),
    ]);
    const ttl = await redis.redis.pttl(serviceEntryKey(redis.prefix, ingest.id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);

    await ingest.stop();
    expect((await readServices(redis.redis, redis.prefix)).services).toEqual([]);
    expect(await redis.redis.exists(serviceEntryKey(redis.prefix, ingest.id))).toBe(0);
    expect(await redis.redis.zscore(servicesIndexKey(redis.prefix), ingest.id)).toBeNull();
  });

  it('keeps the entry alive with heartbeats and shows changes written by refresh', async () => {
    let shards = [0];
    const writer = register('writer', () => details({ writer: { shards } }), { heartbeatMs: 100, ttlMs: 1_000 });
    await writer.start();
    const heartbeat = async () => (await readServices(redis.redis, redis.prefix)).services.find((s) => s.id === writer.id)?.heartbeatAt;
    const first = await heartbeat();
    // Alive well past its TTL: the heartbeat keeps rewriting it.
    await eventually(async () => {
      const now = await heartbeat();
      return now !== undefined && Date.parse(now) > Date.parse(first!) + 1_500;
    }, 'heartbeats past the first TTL', 20_000);

    shards = [0, 1];
    await writer.refresh();
    const entry = (await readServices(redis.redis, redis.prefix)).services.find((s) => s.id === writer.id);
    expect(entry?.writer).toEqual({ shards: [0, 1] });
    await writer.stop();
  });

  it('lets the entry of a process that stopped heartbeating expire (a crash), though the index still names it', async () => {
    // A heartbeat far beyond the test: after the first write nothing refreshes the entry.
    const crashed = register('scheduler', () => details(), { heartbeatMs: 3_600_000, ttlMs: 300 });
    await crashed.start();
    expect((await readServices(redis.redis, redis.prefix)).services.map((s) => s.id)).toContain(crashed.id);
    await eventually(async () => !(await readServices(redis.redis, redis.prefix)).services.some((s) => s.id === crashed.id), 'entry expired', 20_000);
    expect(await redis.redis.zscore(servicesIndexKey(redis.prefix), crashed.id)).not.toBeNull();
    await crashed.stop();
  });

  it('drops index members long past their expiry when any service writes', async () => {
    await redis.redis.zadd(servicesIndexKey(redis.prefix), Date.now() - 3_600_000, 'long-gone-1-abc');
    const dashboard = register('dashboard', () => details());
    await dashboard.start();
    expect(await redis.redis.zscore(servicesIndexKey(redis.prefix), 'long-gone-1-abc')).toBeNull();
    await dashboard.stop();
  });

  it('counts entries it cannot read instead of trusting them', async () => {
    await redis.redis.zadd(servicesIndexKey(redis.prefix), Date.now() + 60_000, 'bad-json', Date.now() + 60_000, 'bad-shape');
    await redis.redis.set(serviceEntryKey(redis.prefix, 'bad-json'), '{not json', 'PX', 60_000);
    await redis.redis.set(serviceEntryKey(redis.prefix, 'bad-shape'), JSON.stringify({ v: 2, service: 'future' }), 'PX', 60_000);
    const { services, unreadable } = await readServices(redis.redis, redis.prefix);
    expect(unreadable).toBe(2);
    expect(services.map((s) => s.id)).not.toContain('bad-json');
    await redis.redis.del(serviceEntryKey(redis.prefix, 'bad-json'), serviceEntryKey(redis.prefix, 'bad-shape'));
    await redis.redis.zrem(servicesIndexKey(redis.prefix), 'bad-json', 'bad-shape');
  });

  it('starts without Redis: the failure is logged once, not thrown', async () => {
    const offline = createProducerConnection('redis://127.0.0.1:1', 'registry-test');
    offline.on('error', () => {});
    const before = logs.length;
    const registration = new ServiceRegistration({ redis: offline, prefix: redis.prefix, service: 'writer', describe: () => details(), logger, heartbeatMs: 3_600_000 });
    await registration.start();
    await registration.refresh();
    expect(logs.slice(before).filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'could not write this service to the registry; retrying with the next heartbeat',
    ]);
    await registration.stop();
    offline.disconnect();
  });
});

describe('what readers take from registry entries', () => {
  const prefix = '{tickvault}';
  const entry = (queues: ServiceEntry['queues'], ingest?: ServiceEntry['ingest']): ServiceEntry => ({
    v: 1, id: 'h-1-abc', service: 'ingest-stock', host: 'h', pid: 1, version: '0.1.0', environment: 'live',
    startedAt: '2026-01-01T00:00:00.000Z', heartbeatAt: '2026-01-01T00:00:00.000Z', queues, ...(ingest ? { ingest } : {}),
  });

  it('lists each queue of this stack once, tick shards included, and no other prefix', () => {
    const services = [
      entry([
        { name: 'ticks', prefix, role: 'produces' },
        { name: 'ticks-1', prefix: '{tickvault-s1}', role: 'produces' },
        { name: 'backfill-alpaca', prefix, role: 'consumes' },
      ]),
      entry([
        { name: 'ticks', prefix, role: 'consumes' },
        { name: 'ticks', prefix: '{other}', role: 'consumes' },
        { name: 'ticks-9', prefix: '{tickvault-sx}', role: 'consumes' },
      ]),
    ];
    expect(registeredQueues(services, prefix)).toEqual([
      { name: 'ticks', prefix },
      { name: 'ticks-1', prefix: '{tickvault-s1}' },
      { name: 'backfill-alpaca', prefix },
    ]);
  });

  it('derives the series of ingest entries: every source with the configured symbols', () => {
    const at = '2026-01-01T00:00:00.000Z';
    const source = (id: string) => ({ source: id, state: 'idle' as const, since: at, reason: null, lastMessageAt: null, symbols: [] });
    const services = [entry([], { assetClass: 'stock', symbols: ['AAPL', 'SPY'], shards: 1, sources: [source('alpaca'), source('yahoo')] }), entry([])];
    expect(registeredSeries(services)).toEqual([
      { source: 'alpaca', symbol: 'AAPL', assetClass: 'stock' },
      { source: 'alpaca', symbol: 'SPY', assetClass: 'stock' },
      { source: 'yahoo', symbol: 'AAPL', assetClass: 'stock' },
      { source: 'yahoo', symbol: 'SPY', assetClass: 'stock' },
    ]);
  });
});

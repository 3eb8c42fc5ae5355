import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redis } from 'ioredis';
import { createTestRedis, eventually, type TestRedis } from '@tickvault/testing';
import { SymbolLeases } from './symbol-leases.js';

const logger = pino({ level: 'silent' });
const SYMBOLS = ['A/USD', 'B/USD', 'C/USD', 'D/USD', 'E/USD', 'F/USD', 'G/USD'];

describe('SymbolLeases (real Redis)', () => {
  let redis: TestRedis;
  let connection: Redis;
  const running: SymbolLeases[] = [];

  beforeAll(async () => {
    redis = await createTestRedis();
    connection = new Redis(redis.url);
  });
  afterAll(async () => {
    await Promise.all(running.map((l) => l.stop()));
    connection?.disconnect();
    await redis?.cleanup();
  });

  function replica(id: string, client: Redis, source = 'sim') {
    const told: { held: readonly string[] } = { held: [] };
    const leases = new SymbolLeases({
      redis: client, prefix: redis.prefix, service: 'ingest-test', source, symbols: SYMBOLS, replicaId: id, ttlMs: 600, logger,
      onChange: (held) => { told.held = held; },
    });
    running.push(leases);
    leases.start();
    return { leases, told };
  }

  it('splits symbols among three replicas, disjoint and complete, and tells each runner exactly what it holds', async () => {
    const replicas = ['r1', 'r2', 'r3'].map((id) => replica(id, connection));
    await eventually(() => {
      const all = replicas.flatMap((r) => r.told.held);
      return all.length === SYMBOLS.length && new Set(all).size === SYMBOLS.length && replicas.every((r) => r.told.held.length >= 2);
    }, 'a complete, disjoint split', 10_000, 50);
    for (const r of replicas) expect(r.told.held).toEqual(r.leases.symbols);
    await Promise.all(replicas.map((r) => r.leases.stop()));
  });

  it('reconciles the runner after a round that failed halfway (no symbol leased but not streamed)', async () => {
    let sets = 0;
    // A client whose second SET fails, as during a Redis blip in the middle of a round.
    const flaky = new Proxy(connection, {
      get(target, prop, receiver) {
        if (prop === 'set') {
          return (...args: unknown[]) => {
            sets++;
            if (sets === 2) return Promise.reject(new Error('Connection is closed.'));
            return (target.set as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { leases, told } = replica('flaky', flaky, 'flaky-source');
    await eventually(() => told.held.length === SYMBOLS.length, 'all symbols, told to the runner', 10_000, 50);
    expect(told.held).toEqual(leases.symbols);
    await leases.stop();
  });

  it('stays stopped when stopped during a round, and releases its leases', async () => {
    const { leases } = replica('stopper', connection, 'stop-source');
    await new Promise((r) => setTimeout(r, 20));
    await leases.stop();
    await new Promise((r) => setTimeout(r, 700));
    const keys = await connection.keys(`${redis.prefix}:ingest-lease:ingest-test:stop-source:*`);
    expect(keys).toEqual([]);
    expect(await connection.zcard(`${redis.prefix}:ingest-replicas:ingest-test:stop-source`)).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES, type Tick, type TickBatchJob } from '@tickvault/schema';
import { createSimSource, type Observation } from '@tickvault/sources';
import { createTestRedis, eventually, repoPath, ServiceProcess, type LogLine, type TestRedis } from '@tickvault/testing';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT'];
const SEED = 11;

describe('ingest replicas share symbols and fail over', () => {
  let redis: TestRedis;
  let connection: Redis;
  let ticks: Queue<TickBatchJob>;
  const replicas: ServiceProcess[] = [];

  const start = () =>
    new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      CRYPTO_SOURCES: 'sim',
      CRYPTO_SYMBOLS: SYMBOLS.join(','),
      SIM_SEED: String(SEED),
      INGEST_FLUSH_MS: '100',
      INGEST_LEASE_TTL_MS: '3000',
    });
  const held = (replica: ServiceProcess): string[] => {
    const changes = replica.lines.filter((l: LogLine) => l.msg === 'symbol leases changed');
    return (changes.at(-1)?.held as string[] | undefined) ?? [];
  };
  const queued = async (): Promise<(Tick & { producer: string })[]> =>
    (await ticks.getJobs(['waiting'], 0, -1)).flatMap((job) => (job.data.ticks as Tick[]).map((t) => ({ ...t, producer: job.data.producer })));

  beforeAll(async () => {
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    ticks = new Queue(QUEUE_NAMES.ticks, { connection, prefix: redis.prefix });
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await ticks?.close();
    connection?.disconnect();
    await redis?.cleanup();
  });

  it('splits the symbols between two replicas, each ingesting only its own', async () => {
    replicas.push(start());
    await eventually(() => held(replicas[0]!).length === 4, 'first replica holds every symbol', 20_000);
    replicas.push(start());
    await eventually(() => held(replicas[0]!).length === 2 && held(replicas[1]!).length === 2, 'two symbols each', 20_000);
    expect([...held(replicas[0]!), ...held(replicas[1]!)].sort()).toEqual([...SYMBOLS].sort());

    // Once settled, every symbol is produced by one replica only.
    const settled = new Date().toISOString();
    // Until every symbol has traded (the sim makes 20 to 120 trades a minute per symbol).
    const producersBySymbol = new Map<string, Set<string>>();
    await eventually(async () => {
      producersBySymbol.clear();
      for (const t of (await queued()).filter((t) => t.ts > settled)) {
        producersBySymbol.set(t.symbol, (producersBySymbol.get(t.symbol) ?? new Set()).add(t.producer));
      }
      return producersBySymbol.size === 4;
    }, 'every symbol traded since the split', 30_000, 500);
    for (const producers of producersBySymbol.values()) expect(producers.size).toBe(1);
  });

  it('moves a killed replica\'s symbols to the survivor, replaying the gap so no trade is missing', async () => {
    const [victim, survivor] = replicas as [ServiceProcess, ServiceProcess];
    const orphaned = held(victim);
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    await eventually(() => held(survivor).length === 4, 'survivor holds every symbol', 20_000, 100);
    const takeover = Date.now();
    expect(takeover - killedAt).toBeLessThan(10_000);

    // Every trade the sim made for the orphaned symbols from before the kill until after the takeover gets
    // queued: the survivor replays the gap and streams on, as fast as the machine lets it.
    const from = new Date(killedAt - 2000);
    const to = new Date(takeover + 1000);
    const sim = createSimSource({ assetClass: 'crypto', seed: SEED });
    const expected = new Map<string, Observation[]>();
    for (const symbol of orphaned) {
      const trades: Observation[] = [];
      for await (const page of sim.history({ symbol, from, to })) trades.push(...page);
      expect(trades.length).toBeGreaterThan(0);
      expected.set(symbol, trades);
    }
    const missingNow = async () => {
      const stored = new Set((await queued()).map((t) => `${t.symbol}|${t.tradeId}`));
      return [...expected].flatMap(([symbol, trades]) => trades.filter((o) => !stored.has(`${symbol}|${o.tradeId}`)));
    };
    await eventually(async () => (await missingNow()).length === 0, 'every orphaned trade queued', 30_000, 250).catch(() => undefined);
    const missing = await missingNow();
    const context = JSON.stringify({
      killedAt: new Date(killedAt).toISOString(), takeover: new Date(takeover).toISOString(),
      survivor: survivor.lines.filter((l) => /replay|lease|symbol|progress|stream/.test(String(l.msg))).slice(-12),
    });
    expect(missing, `trades missing after failover; ${context}`).toEqual([]);
  });
});

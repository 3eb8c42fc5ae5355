import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBinance, type FakeBinance } from '@tickvault/fake-feeds';
import { readServices, type SourceStatus } from '@tickvault/queue';
import { createTestRedis, eventually, repoPath, ServiceProcess, type TestRedis } from '@tickvault/testing';

/**
 * Issue #13 items 7 and 10: an ingest process whose provider is out of reach says so (metrics and its
 * service registry entry) while it stays live and ready, since it can still queue; it says when the
 * provider comes back; and it leaves the registry when it stops.
 */
describe('ingest-crypto source connection state (real process, fake Binance, real Redis)', () => {
  let redis: TestRedis;
  let fake: FakeBinance;
  let ingest: ServiceProcess;
  let healthUrl: string;

  const status = async (path: string) => (await fetch(`${healthUrl}${path}`)).status;
  const gauge = async (name: string): Promise<number | undefined> => {
    const body = await (await fetch(`${healthUrl}/metrics`)).text();
    const match = new RegExp(`^${name}\\{[^}]*source="binance"[^}]*\\} (\\S+)$`, 'm').exec(body);
    return match ? Number(match[1]) : undefined;
  };
  const registered = async (): Promise<SourceStatus | undefined> => {
    const { services } = await readServices(redis.redis, redis.prefix);
    return services.find((s) => s.service === 'ingest-crypto')?.ingest?.sources.find((s) => s.source === 'binance');
  };

  beforeAll(async () => {
    redis = await createTestRedis();
    fake = await startFakeBinance({ symbols: ['BTCUSDT'], tradesPerSecond: 20, historyMs: 60_000 });
    // The provider refuses every stream connection until the test lets it back.
    fake.controls.outage(3_600_000);
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      CRYPTO_SOURCES: 'binance',
      CRYPTO_SYMBOLS: 'BTC/USDT',
      BINANCE_WS_URL: fake.wsUrl,
      BINANCE_REST_URL: fake.restUrl,
      INGEST_FLUSH_MS: '100',
    });
    const started = await ingest.waitForLog((l) => l.msg === 'ingest-crypto started');
    healthUrl = `http://127.0.0.1:${started.healthPort as number}`;
  });

  afterAll(async () => {
    await ingest?.stop();
    await fake?.close();
    await redis?.cleanup();
  });

  it('with the provider unreachable: not connected in metrics and in the registry, yet live and ready (it can still queue)', async () => {
    await eventually(async () => ((await gauge('tickvault_source_disconnected_seconds')) ?? 0) > 0, 'disconnected for a while', 30_000);
    expect(await gauge('tickvault_source_connected')).toBe(0);
    expect(await gauge('tickvault_source_last_message_age_seconds')).toBeUndefined();
    const entry = await eventually(async () => {
      const source = await registered();
      return source?.reason ? source : undefined;
    }, 'registry names the failure', 30_000);
    expect(entry).toMatchObject({ source: 'binance', state: 'connecting', symbols: ['BTC/USDT'], lastMessageAt: null });
    expect(entry.reason).toMatch(/503/);
    expect(await status('/livez')).toBe(200);
    expect(await status('/readyz')).toBe(200);
  });

  it('when the provider is back: connected, messages flowing, the outage over', async () => {
    fake.controls.reset();
    await eventually(async () => (await gauge('tickvault_source_connected')) === 1, 'connected', 60_000);
    expect(await gauge('tickvault_source_disconnected_seconds')).toBe(0);
    await eventually(async () => (await gauge('tickvault_source_last_message_age_seconds')) !== undefined, 'a message received', 30_000);
    const entry = await eventually(async () => {
      const source = await registered();
      return source?.state === 'connected' && source.lastMessageAt !== null ? source : undefined;
    }, 'registry says connected', 30_000);
    expect(entry.reason).toBeNull();
  });

  it('a lost connection: reconnecting since the loss, with its reason; readiness unchanged', async () => {
    const lostAt = Date.now();
    fake.controls.outage(3_600_000);
    const entry = await eventually(async () => {
      const source = await registered();
      return source?.state === 'reconnecting' ? source : undefined;
    }, 'registry says reconnecting', 30_000);
    expect(Date.parse(entry.since)).toBeGreaterThanOrEqual(lostAt - 1000);
    expect(entry.reason).toBeTruthy();
    await eventually(async () => (await gauge('tickvault_source_connected')) === 0, 'not connected', 30_000);
    expect(await status('/readyz')).toBe(200);
    fake.controls.reset();
    await eventually(async () => (await registered())?.state === 'connected', 'connected again', 60_000);
  });

  it('leaves the registry on a clean shutdown', async () => {
    expect((await readServices(redis.redis, redis.prefix)).services.map((s) => s.service)).toEqual(['ingest-crypto']);
    expect((await ingest.stop()).code).toBe(0);
    expect((await readServices(redis.redis, redis.prefix)).services).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { migrate } from '@tickvault/db';
import { createTestRedis, eventually, PrimaryAndReplica, repoPath, runEntry, ServiceProcess, type TestRedis } from '@tickvault/testing';

const DASHBOARD = repoPath('apps/dashboard/src/main.ts');
const CLI = repoPath('tools/cli/src/main.ts');
const DATABASE = 'tv_read_replica';
const SERIES = { source: 'sim', symbol: 'BTC/USDT' };

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/**
 * The read API on a real streaming replica (DATABASE_READ_URL): reads come from it (a tick the primary has
 * and the paused replica has not replayed is not shown, with the lag saying so), and when it stops, reads
 * fail with 503 naming it, unless DATABASE_READ_FALLBACK=primary. `tickvault report` the same way.
 */
describe('read replica (DATABASE_READ_URL) for the read API and report', () => {
  let cluster: PrimaryAndReplica | undefined;
  let redis: TestRedis | undefined;
  let onPrimary: postgres.Sql | undefined;
  let onReplica: postgres.Sql | undefined;
  const dashboards: ServiceProcess[] = [];
  const urls: { strict: string; fallback: string } = { strict: '', fallback: '' };

  const env = (extra: Record<string, string>) => ({
    DATABASE_URL: cluster!.primary.url(DATABASE),
    DATABASE_READ_URL: cluster!.replica.url(DATABASE),
    REDIS_URL: redis!.url,
    QUEUE_PREFIX: redis!.prefix,
    CRYPTO_SOURCES: 'sim',
    STOCK_SOURCES: '',
    MACRO_SOURCES: '',
    CRYPTO_SYMBOLS: 'BTC/USDT',
    ...extra,
  });

  async function startDashboard(extra: Record<string, string>): Promise<string> {
    const process = new ServiceProcess(DASHBOARD, env({ HEALTH_PORT: '0', DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_AUTH: 'off', LATEST_CACHE_TTL_MS: '0', ...extra }));
    dashboards.push(process);
    const line = await process.waitForLog((l) => l.msg === 'dashboard started', 240_000);
    return `http://127.0.0.1:${line.port as number}`;
  }

  async function get(base: string, path: string): Promise<Reply> {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(20_000) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  }

  const ticksPath = `/api/ticks?source=${SERIES.source}&symbol=${encodeURIComponent(SERIES.symbol)}`;
  const tradeIds = (reply: Reply) => (reply.body.ticks as { tradeId: string }[]).map((t) => t.tradeId);

  async function insertTick(tradeId: string): Promise<void> {
    await onPrimary!`
      insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
      values (${SERIES.source}, ${SERIES.symbol}, 'crypto', now() - interval '1 minute', '100.5', '0.25', ${tradeId})`;
  }

  beforeAll(async () => {
    // Assigned before it starts, so afterAll removes it even when starting fails or times out.
    cluster = new PrimaryAndReplica({ prepare: async (url) => void (await migrate(url(DATABASE))) });
    await cluster.start();
    redis = await createTestRedis();
    onPrimary = postgres(cluster.primary.url(DATABASE), { max: 1, onnotice: () => {} });
    onReplica = postgres(cluster.replica.url(DATABASE), { max: 1, onnotice: () => {} });
    [urls.strict, urls.fallback] = await Promise.all([startDashboard({}), startDashboard({ DATABASE_READ_FALLBACK: 'primary' })]);
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled(dashboards.map((d) => d.stop()));
    await Promise.allSettled([onPrimary?.end({ timeout: 1 }), onReplica?.end({ timeout: 1 })]);
    await redis?.cleanup().catch(() => {});
    await cluster?.destroy();
  }, 120_000);

  it('reads from the replica and says how far behind it is', { timeout: 300_000 }, async () => {
    await insertTick('1');
    await cluster!.waitForReplay();
    const first = await get(urls.strict, ticksPath);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-read-database')).toBe('replica');
    expect(tradeIds(first)).toEqual(['1']);

    // Replay paused: the primary has tick 2, the replica does not, and the API shows what the replica has.
    await onReplica!`select pg_wal_replay_pause()`;
    await insertTick('2');
    const behind = await eventually(async () => {
      const reply = await get(urls.strict, '/api/database');
      const replica = reply.body.replica as { behindBytes: number | null; lagSeconds: number | null } | null;
      return replica && (replica.behindBytes ?? 0) > 0 ? reply : undefined;
    }, 'the replica reported behind the primary', 60_000, 200);
    expect(behind.body).toMatchObject({ reads: 'replica', fallback: 'none', replica: { available: true, standby: true, hosts: `127.0.0.1:${cluster!.replica.port}` } });
    expect((behind.body.replica as { lagSeconds: number }).lagSeconds).toBeGreaterThanOrEqual(0);
    const stale = await get(urls.strict, ticksPath);
    expect(tradeIds(stale)).toEqual(['1']);
    expect(Number(stale.headers.get('x-replica-lag-seconds'))).toBeGreaterThanOrEqual(0);
    const [onThePrimary] = await onPrimary!<{ n: number }[]>`select count(*)::int as n from ticks where source = ${SERIES.source}`;
    expect(onThePrimary!.n).toBe(2);

    // The report reads the replica too, and says so with its lag.
    const report = await runEntry(CLI, ['report', '--json'], env({}));
    expect(report.code, report.stderr).toBe(0);
    const json = JSON.parse(report.stdout) as { database: { reads: string; replica: { behindBytes: number } }; series: { source: string; ticks: number }[] };
    expect(json.database.reads).toBe('replica');
    // Null when the primary did not answer within the status deadline (a starved machine): never 0 here.
    expect(json.database.replica.behindBytes).not.toBe(0);
    expect(json.series.find((s) => s.source === SERIES.source)?.ticks).toBe(1);

    await onReplica!`select pg_wal_replay_resume()`;
    await eventually(async () => tradeIds(await get(urls.strict, ticksPath)).length === 2, 'tick 2 on the replica after replay resumed', 60_000, 200);
    const caughtUp = await eventually(async () => {
      const reply = await get(urls.strict, '/api/database');
      return (reply.body.replica as { behindBytes: number | null }).behindBytes === 0 ? reply : undefined;
    }, 'the replica caught up', 60_000, 200);
    expect((caughtUp.body.replica as { lagSeconds: number }).lagSeconds).toBe(0);
  });

  it('replica down: 503 naming it, unless DATABASE_READ_FALLBACK=primary reads the primary and says so', { timeout: 300_000 }, async () => {
    await cluster!.replica.stop('fast');
    await insertTick('3');

    const refused = await get(urls.strict, ticksPath);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ database: 'replica', hosts: `127.0.0.1:${cluster!.replica.port}` });
    expect(refused.body.error).toMatch(/read replica \(DATABASE_READ_URL 127\.0\.0\.1:\d+\) unavailable/);
    expect((await get(urls.strict, '/api/series')).status).toBe(503);
    // The lag is read at most once a second: within that it may still show the last reading.
    await eventually(async () => (await get(urls.strict, '/api/database')).status === 503, '/api/database 503 once the replica is down', 30_000, 200);

    const fallback = await get(urls.fallback, ticksPath);
    expect(fallback.status).toBe(200);
    expect(fallback.headers.get('x-read-database')).toBe('primary');
    expect(tradeIds(fallback)).toEqual(['1', '2', '3']);
    const described = await eventually(async () => {
      const reply = await get(urls.fallback, '/api/database');
      return (reply.body.replica as { available: boolean } | null)?.available === false ? reply : undefined;
    }, 'the fallback dashboard reporting the replica unavailable', 30_000, 200);
    expect(described.body).toMatchObject({ reads: 'primary', fallback: 'primary', replica: { available: false } });

    const strictReport = await runEntry(CLI, ['report'], env({}));
    expect(strictReport.code).toBe(1);
    expect(strictReport.stdout).toMatch(/! read replica \(DATABASE_READ_URL 127\.0\.0\.1:\d+\) unavailable/);
    const fallbackReport = await runEntry(CLI, ['report', '--json'], env({ DATABASE_READ_FALLBACK: 'primary' }));
    expect(fallbackReport.code, fallbackReport.stdout).toBe(0);
    const json = JSON.parse(fallbackReport.stdout) as { database: { reads: string }; warnings: string[]; series: { source: string; ticks: number }[] };
    expect(json.database.reads).toBe('primary');
    expect(json.warnings.join('\n')).toMatch(/read replica .* unavailable: read the primary/);
    expect(json.series.find((s) => s.source === SERIES.source)?.ticks).toBe(3);
  });
});

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@tickvault/db';
import { createBackfillQueue, serviceEntryKey, servicesIndexKey, ServiceRegistration } from '@tickvault/queue';
import { createTestDatabase, createTestRedis, eventually, REPO_ROOT, repoPath, ServiceProcess, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { basicAuth } from './testing/sse-client.js';

const DASHBOARD = repoPath('apps/dashboard/src/main.ts');
const PASSWORD = 'test-password-7b1e';
const TOKEN = 'test-token-0123456789abcdef';
const CACHE_TTL_MS = 1500;

interface Running {
  process: ServiceProcess;
  url: string;
  healthUrl: string;
}

describe('dashboard (real process, real Redis and Postgres)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  const started: ServiceProcess[] = [];
  // Generated dashboard passwords go here, never into the repository's .tickvault/.
  const secrets = mkdtempSync(join(tmpdir(), 'tickvault-dashboard-'));

  function spawn(env: Record<string, string>): ServiceProcess {
    const process = new ServiceProcess(DASHBOARD, {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      HEALTH_PORT: '0',
      DASHBOARD_PORT: '0',
      DASHBOARD_HOST: '127.0.0.1',
      DASHBOARD_PASSWORD: '',
      DASHBOARD_PASSWORD_FILE: join(secrets, `unused-${started.length}`),
      DASHBOARD_TOKEN: '',
      DASHBOARD_AUTH: '',
      CRYPTO_SOURCES: 'sim',
      STOCK_SOURCES: '',
      MACRO_SOURCES: '',
      CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT',
      LATEST_CACHE_TTL_MS: String(CACHE_TTL_MS),
      ...env,
    });
    started.push(process);
    return process;
  }

  async function start(env: Record<string, string>): Promise<Running> {
    const process = spawn(env);
    const line = await process.waitForLog((l) => l.msg === 'dashboard started');
    return { process, url: `http://127.0.0.1:${line.port as number}`, healthUrl: `http://127.0.0.1:${line.healthPort as number}` };
  }

  let basic: Running;
  const auth = basicAuth('admin', PASSWORD);
  const getJson = async (path: string, headers: Record<string, string> = auth) => {
    const res = await fetch(`${basic.url}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    basic = await start({ DASHBOARD_PASSWORD: PASSWORD });
  });

  const reader = `tv_reader_${randomBytes(4).toString('hex')}`;

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    // Roles belong to the whole server: remove the test's reader role with its grants.
    await db?.sql.unsafe(`drop owned by ${reader}`).catch(() => {});
    await db?.sql.unsafe(`drop role if exists ${reader}`).catch(() => {});
    await redis?.cleanup();
    await db?.drop();
    rmSync(secrets, { recursive: true, force: true });
  });

  describe('authentication', () => {
    it('answers 401 with a basic challenge without credentials, on the page, the API and Bull Board', async () => {
      for (const path of ['/', '/index.html', '/api/series', '/api/stream?series=sim:BTC/USDT&timeframe=1m', '/admin/queues', '/admin/queues/api/queues']) {
        const res = await fetch(`${basic.url}${path}`);
        expect(res.status, path).toBe(401);
        expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic realm="tickvault"/);
      }
      const wrong = await fetch(`${basic.url}/api/series`, { headers: basicAuth('admin', `${PASSWORD}x`) });
      expect(wrong.status).toBe(401);
    });

    it('answers 200 with the right credentials', async () => {
      const page = await fetch(`${basic.url}/`, { headers: auth });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<canvas id="chart"');
      expect((await fetch(`${basic.url}/api/series`, { headers: auth })).status).toBe(200);
      const board = await fetch(`${basic.url}/admin/queues`, { headers: auth });
      expect(board.status).toBe(200);
      expect(await board.text()).toContain('tickvault queues');
    });

    it('serves health and metrics on the health port without credentials', async () => {
      const ready = await fetch(`${basic.healthUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ checks: { postgres: true, redis: true, live: true } });
      const metrics = await (await fetch(`${basic.healthUrl}/metrics`)).text();
      expect(metrics).toMatch(/^tickvault_queue_jobs\{queue="ticks",state="waiting",service="dashboard"\} \d+$/m);
      expect(metrics).toContain('process_cpu_user_seconds_total');
      expect(metrics).toContain('tickvault_dashboard_stream_clients');
    });

    it('never writes the password to its output', () => {
      expect(basic.process.output.join('\n')).not.toContain(PASSWORD);
    });

    it('first start without DASHBOARD_PASSWORD: generates one into DASHBOARD_PASSWORD_FILE and prints it once; a restart reuses it silently', async () => {
      const file = join(secrets, 'volume', 'dashboard-password');
      const first = await start({ DASHBOARD_PASSWORD_FILE: file });
      const password = readFileSync(file, 'utf8');
      expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const shown = first.process.output.filter((line) => line.includes(password));
      expect(shown).toHaveLength(1);
      expect(JSON.parse(shown[0]!)).toMatchObject({ level: 40, user: 'admin', passwordFile: file, msg: expect.stringMatching(/^dashboard login: user "admin", password "/) });
      expect((await fetch(`${first.url}/api/series`, { headers: basicAuth('admin', password) })).status).toBe(200);
      await first.process.stop();

      const second = await start({ DASHBOARD_PASSWORD_FILE: file });
      expect((await fetch(`${second.url}/api/series`, { headers: basicAuth('admin', password) })).status).toBe(200);
      expect(second.process.output.join('\n')).not.toContain(password);
      expect(second.process.lines.some((l) => l.passwordFile === file && /read from its file/.test(String(l.msg)))).toBe(true);
      expect(readFileSync(file, 'utf8')).toBe(password);

      // What an operator runs later (compose: docker compose exec dashboard ... dashboard-password).
      const cli = spawnSync(process.execPath, ['--import', 'tsx', 'tools/cli/src/main.ts', 'dashboard-password'], {
        cwd: REPO_ROOT, env: { ...process.env, DASHBOARD_PASSWORD: '', DASHBOARD_PASSWORD_FILE: file }, encoding: 'utf8',
      });
      expect(cli.status).toBe(0);
      expect(cli.stdout).toBe(`${password}\n`);
    });

    it('refuses to start with a password under 12 characters, naming where it came from', async () => {
      const short = spawn({ DASHBOARD_PASSWORD: 'elevenchars' });
      expect((await short.exited).code).toBe(1);
      expect(short.output.join('\n')).toMatch(/DASHBOARD_PASSWORD: must be at least 12 characters/);
      const file = join(secrets, 'short-password');
      writeFileSync(file, 'too-short\n');
      const fromFile = spawn({ DASHBOARD_PASSWORD_FILE: file });
      expect((await fromFile.exited).code).toBe(1);
      expect(fromFile.output.join('\n')).toContain(`DASHBOARD_PASSWORD_FILE: the password in ${file} must be at least 12 characters`);
    });

    it('locks a client out after 5 failed logins: 429 with Retry-After, logged and counted', async () => {
      const guarded = await start({ DASHBOARD_PASSWORD: PASSWORD });
      const wrong = { headers: basicAuth('admin', 'not-the-password') };
      const first = [];
      for (let i = 0; i < 5; i++) first.push((await fetch(`${guarded.url}/api/series`, wrong)).status);
      expect(first).toEqual([401, 401, 401, 401, 401]);
      // The first lockout is a second long; if it ends before the next request, that request's failure starts a longer one.
      const refused = await eventually(async () => {
        const res = await fetch(`${guarded.url}/api/series`, wrong);
        return res.status === 429 && res;
      }, 'a 429 after repeated failures', 30_000, 0);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused.json()).toEqual({ error: expect.stringMatching(/^too many failed logins/) });
      await guarded.process.waitForLog((l) => l.msg === 'dashboard client locked out' && l.client === '127.0.0.1');
      const metrics = await (await fetch(`${guarded.healthUrl}/metrics`)).text();
      expect(metrics).toMatch(/^tickvault_dashboard_login_lockouts_total\{service="dashboard"\} [1-9]\d*$/m);
      expect(metrics).toMatch(/^tickvault_dashboard_login_refused\{service="dashboard"\} [1-9]\d*$/m);
    });

    it('refuses to start with bearer auth and no token, naming DASHBOARD_TOKEN', async () => {
      const process = spawn({ DASHBOARD_AUTH: 'bearer' });
      expect((await process.exited).code).toBe(1);
      expect(process.output.join('\n')).toMatch(/DASHBOARD_TOKEN: is required when DASHBOARD_AUTH=bearer/);
    });

    it('accepts only the token in bearer mode', async () => {
      const bearer = await start({ DASHBOARD_AUTH: 'bearer', DASHBOARD_TOKEN: TOKEN, DASHBOARD_PASSWORD: PASSWORD });
      const none = await fetch(`${bearer.url}/api/series`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect((await fetch(`${bearer.url}/api/series`, { headers: auth })).status).toBe(401);
      expect((await fetch(`${bearer.url}/api/series`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
      expect((await fetch(`${bearer.url}/api/series`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await fetch(`${bearer.url}/admin/queues`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect(bearer.process.output.join('\n')).not.toContain(TOKEN);
    });

    it('runs open with DASHBOARD_AUTH=off, and says so loudly', async () => {
      const open = await start({ DASHBOARD_AUTH: 'off' });
      expect((await fetch(`${open.url}/api/series`)).status).toBe(200);
      expect((await fetch(`${open.url}/`)).status).toBe(200);
      const warning = await open.process.waitForLog((l) => /AUTHENTICATION IS OFF/.test(String(l.msg)));
      expect(warning.level).toBe(40);
    });
  });

  describe('read API', () => {
    it('answers 400 naming the bad parameter', async () => {
      const cases: [string, string][] = [
        ['/api/candles?symbol=BTC/USDT&timeframe=1m', 'source'],
        ['/api/candles?source=sim&symbol=BTC/USDT&timeframe=7m', 'timeframe'],
        ['/api/candles?source=sim&symbol=BTC/USDT&timeframe=1m&limit=5001', 'limit'],
        ['/api/candles?source=sim&symbol=BTC/USDT&timeframe=1m&limit=abc', 'limit'],
        ['/api/candles?source=sim&symbol=BTC/USDT&timeframe=1m&from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z', 'to'],
        ['/api/ticks?source=sim&symbol=BTC/USDT&from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z', 'from'],
        ['/api/ticks?source=sim&symbol=BTC/USDT&from=last-week', 'from'],
        ['/api/ticks?source=sim&symbol=BTC%2FUSDT%27%3B%20drop%20table%20ticks', 'symbol'],
        ['/api/ticks?source=sim&symbol=BTC/USDT&sort=desc', 'sort'],
        ['/api/latest', 'symbols'],
        ['/api/latest?symbols=BTC/USDT', 'symbols'],
        ['/api/stream?series=sim:BTC/USDT', 'timeframe'],
        ['/api/rejections?hours=0', 'hours'],
        ['/api/events?limit=1000', 'limit'],
      ];
      for (const [path, parameter] of cases) {
        const { status, body } = await getJson(path);
        expect(status, path).toBe(400);
        expect(body, path).toMatchObject({ parameter, error: expect.stringContaining(parameter) });
      }
      const [{ n }] = (await db.sql`select count(*)::int as n from pg_views where viewname = 'ticks'`) as unknown as [{ n: number }];
      expect(n).toBe(1);
    });

    it('refuses anything but GET: the API is read-only', async () => {
      const res = await fetch(`${basic.url}/api/ticks`, { method: 'POST', headers: auth });
      expect(res.status).toBe(405);
    });

    it('returns decimals exactly as stored and times in UTC with their microseconds', async () => {
      const ts = `${new Date(Date.now() - 120_000).toISOString().slice(0, -1)}456Z`;
      // As text: the driver would turn a timestamptz parameter into a JS Date and lose the microseconds.
      await db.sql`
        insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
        values ('exact', 'TINY/USDT', 'crypto', ${ts}::text::timestamptz, '0.00012300', '1500.000000000000000001', 't-1')`;
      await db.sql`
        insert into candles (source, symbol, timeframe, open_time, open, high, low, close, volume, trade_count, first_ts, last_ts)
        values ('exact', 'TINY/USDT', '1m', '2024-05-01T10:00:00Z', '0.00012300', '0.00012400', '0.00012200', '0.00012310', '1500.000000000000000001', 1,
          '2024-05-01T10:00:01Z', '2024-05-01T10:00:01Z')`;

      const ticks = await getJson('/api/ticks?source=exact&symbol=TINY/USDT');
      expect(ticks.status).toBe(200);
      expect(ticks.body.ticks).toEqual([{ ts, price: '0.00012300', size: '1500.000000000000000001', tradeId: 't-1' }]);

      const candles = await getJson('/api/candles?source=exact&symbol=TINY/USDT&timeframe=1m');
      expect(candles.body.candles).toEqual([
        { openTime: '2024-05-01T10:00:00Z', open: '0.00012300', high: '0.00012400', low: '0.00012200', close: '0.00012310', volume: '1500.000000000000000001', tradeCount: 1 },
      ]);
      const ranged = await getJson('/api/candles?source=exact&symbol=TINY/USDT&timeframe=1m&from=2024-05-01T10:00:00Z&to=2024-05-01T10:01:00Z');
      expect((ranged.body.candles as unknown[]).length).toBe(1);
      const outside = await getJson('/api/candles?source=exact&symbol=TINY/USDT&timeframe=1m&from=2024-05-01T10:01:00Z');
      expect(outside.body.candles).toEqual([]);
    });

    it('pages ticks with a bounded limit and reports truncation', async () => {
      const base = Date.now() - 3_600_000;
      await db.sql`
        insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
        select 'paged', 'P/USDT', 'crypto', to_timestamp(${base / 1000}::float8 + i), (100 + i)::text::numeric, '1', i::text
        from generate_series(1, 30) as i`;
      const newest = await getJson('/api/ticks?source=paged&symbol=P/USDT&limit=10');
      expect(newest.body.truncated).toBe(true);
      expect((newest.body.ticks as { price: string }[]).map((t) => t.price)).toEqual(Array.from({ length: 10 }, (_, i) => String(121 + i)));
      const oldest = await getJson(`/api/ticks?source=paged&symbol=P/USDT&limit=5&from=${new Date(base).toISOString()}`);
      expect((oldest.body.ticks as { price: string }[]).map((t) => t.price)).toEqual(['101', '102', '103', '104', '105']);
    });

    it('lists configured and stored series with counts, lag and the last hour', async () => {
      type Series = { series: string; configured: boolean; ticks: number; ticksLastHour: number; lagMs: number | null; timeframes: string[] };
      // Answers are shared for a few seconds (every open page polls it): wait for one computed after the inserts above.
      const series = await eventually(async () => {
        const list = (await getJson('/api/series')).body.series as Series[];
        return list.some((s) => s.series === 'exact:TINY/USDT') && list;
      }, 'series listing with the inserted ticks', 10_000, 250);
      expect(series.slice(0, 2).map((s) => [s.series, s.configured])).toEqual([['sim:BTC/USDT', true], ['sim:ETH/USDT', true]]);
      expect(series[0]).toMatchObject({ ticks: 0, lagMs: null, timeframes: ['1m', '5m', '15m', '1h', '4h', '1d'] });
      const exact = series.find((s) => s.series === 'exact:TINY/USDT');
      expect(exact).toMatchObject({ configured: false, ticks: 1, ticksLastHour: 1 });
      expect(exact!.lagMs).toBeGreaterThan(100_000);
    });

    it('caches /api/latest in Redis under the queue prefix for LATEST_CACHE_TTL_MS', async () => {
      const first = await getJson('/api/latest?symbols=exact:TINY/USDT,none:NOTHING');
      expect(first.body.latest).toEqual([
        { source: 'exact', symbol: 'TINY/USDT', lastTick: expect.objectContaining({ price: '0.00012300' }), day: null },
        { source: 'none', symbol: 'NOTHING', lastTick: null, day: null },
      ]);
      const key = `${redis.prefix}:dashboard:latest:exact:TINY/USDT`;
      const ttl = await redis.redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(CACHE_TTL_MS);

      await db.sql`
        insert into ticks (source, symbol, asset_class, ts, price, size, trade_id)
        values ('exact', 'TINY/USDT', 'crypto', now(), '0.00012999', '1', 't-2')`;
      const cached = await getJson('/api/latest?symbols=exact:TINY/USDT');
      expect((cached.body.latest as { lastTick: { price: string } }[])[0]!.lastTick.price).toBe('0.00012300');
      await new Promise((r) => setTimeout(r, CACHE_TTL_MS + 200));
      const fresh = await getJson('/api/latest?symbols=exact:TINY/USDT');
      expect((fresh.body.latest as { lastTick: { price: string } }[])[0]!.lastTick.price).toBe('0.00012999');
    });

    it('reports queue depths, rejections by reason and recent events', async () => {
      const queues = await getJson('/api/queues');
      expect((queues.body.queues as { name: string }[]).map((q) => q.name)).toEqual(['ticks', 'events', 'maintenance', 'backfill-sim']);
      await db.sql`
        insert into rejected_ticks (source, symbol, reason, detail, sample, origin, job_key, position)
        values ('sim', 'BTC/USDT', 'invalid_price', 'price must be positive', '{}', 'writer', 'ticks:1', 0),
               ('sim', 'BTC/USDT', 'invalid_price', 'price is not a decimal', '{}', 'writer', 'ticks:2', 0),
               ('sim', null, 'malformed', 'not an object', '1', 'ingest', 'ticks:3', 0)`;
      await db.sql`insert into system_events (service, kind, symbol, details) values ('writer', 'postgres_recovered', null, ${db.sql.json({ error: 'postgres://u:secret@host/db refused' })})`;
      const rejections = await getJson('/api/rejections');
      expect(rejections.body.rejections).toEqual([
        expect.objectContaining({ source: 'sim', reason: 'invalid_price', count: 2 }),
        expect.objectContaining({ source: 'sim', reason: 'malformed', count: 1, lastDetail: 'not an object' }),
      ]);
      const events = await getJson('/api/events?limit=5');
      const [event] = events.body.events as { kind: string; details: { error: string } }[];
      expect(event).toMatchObject({ kind: 'postgres_recovered', details: { error: 'postgres://u:***@host/db refused' } });
    });
  });

  describe('read-only database role', () => {
    it('runs with DASHBOARD_DATABASE_URL of a role that may only select (the README grants)', async () => {
      await db.sql.unsafe(`create role ${reader} login password 'reader-pw'`);
      await db.sql.unsafe(`grant connect on database ${db.name} to ${reader}`);
      await db.sql.unsafe(`grant usage on schema public to ${reader}`);
      await db.sql.unsafe(`grant select on all tables in schema public to ${reader}`);
      const url = new URL(db.url);
      url.username = reader;
      url.password = 'reader-pw';
      const readOnly = await start({ DASHBOARD_PASSWORD: PASSWORD, DATABASE_URL: 'postgres://nobody:wrong@127.0.0.1:1/none', DASHBOARD_DATABASE_URL: url.toString() });
      const res = await fetch(`${readOnly.url}/api/ticks?source=exact&symbol=TINY/USDT`, { headers: auth });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { ticks: unknown[] }).ticks.length).toBeGreaterThan(0);
      expect((await fetch(`${readOnly.url}/api/series`, { headers: auth })).status).toBe(200);
      expect(readOnly.process.output.join('\n')).not.toContain('reader-pw');
    });
  });

  describe('Bull Board', () => {
    it('shows every queue and is read-only unless DASHBOARD_QUEUE_ACTIONS=true', async () => {
      const res = await fetch(`${basic.url}/admin/queues/api/queues`, { headers: auth });
      const body = (await res.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      expect(body.queues.map((q) => q.name).sort()).toEqual(['backfill-sim', 'events', 'maintenance', 'ticks']);
      expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
      const pause = await fetch(`${basic.url}/admin/queues/api/queues/ticks/pause`, { method: 'PUT', headers: auth });
      expect(pause.status).toBe(403);
      expect(await redis.redis.hget(`${redis.prefix}:ticks:meta`, 'paused')).toBeNull();
    });

    it('returns at most 100 jobs per response, however many a request asks for', async () => {
      const queue = createBackfillQueue(redis.redis, redis.prefix, 'sim');
      try {
        await queue.addBulk(Array.from({ length: 150 }, (_, i) => ({ name: 'backfill', data: { i } as never })));
      } finally {
        await queue.close();
      }
      type Board = { queues: { name: string; jobs: unknown[]; pagination: { pageCount: number } }[] };
      const board = async (query: string) => {
        const res = await fetch(`${basic.url}/admin/queues/api/queues?activeQueue=backfill-sim&${query}`, { headers: auth });
        expect(res.status, query).toBe(200);
        return ((await res.json()) as Board).queues.find((q) => q.name === 'backfill-sim')!;
      };
      const huge = await board('status=waiting&jobsPerPage=10000000');
      expect(huge.jobs.length).toBe(100);
      expect(huge.pagination.pageCount).toBe(2);
      expect((await board('status=waiting&jobsPerPage=10000000&page=2')).jobs.length).toBe(50);
      expect((await board('status=failed&jobsPerPage=1e9')).pagination.pageCount).toBe(0);
      expect((await board('status=waiting&jobsPerPage=1e9')).jobs.length).toBe(100);
      // The default "latest" view reads every status: the cap is shared among them.
      expect((await board('jobsPerPage=10000000')).jobs.length).toBeLessThanOrEqual(100);
      expect((await board('status=waiting&jobsPerPage=10000000&page=99999999999999999999')).jobs).toEqual([]);
      // Within the cap a request gets what it asked for.
      expect((await board('status=waiting&jobsPerPage=25')).jobs.length).toBe(25);
    });

    it('allows queue actions from its own page when enabled, never cross-site', async () => {
      const actions = await start({ DASHBOARD_PASSWORD: PASSWORD, DASHBOARD_QUEUE_ACTIONS: 'true' });
      const crossSite = await fetch(`${actions.url}/admin/queues/api/queues/events/pause`, {
        method: 'PUT',
        headers: { ...auth, origin: 'https://evil.example' },
      });
      expect(crossSite.status).toBe(403);
      const pause = await fetch(`${actions.url}/admin/queues/api/queues/events/pause`, { method: 'PUT', headers: auth });
      expect(pause.status).toBe(200);
      const queues = await getJson('/api/queues');
      expect((queues.body.queues as { name: string; paused: boolean }[]).find((q) => q.name === 'events')?.paused).toBe(true);
      await fetch(`${actions.url}/admin/queues/api/queues/events/resume`, { method: 'PUT', headers: auth });
    });
  });

  describe('service registry', () => {
    it('shows what running services registered: /api/services, their queues in /api/queues and Bull Board, their series as configured', async () => {
      const since = new Date().toISOString();
      const registration = new ServiceRegistration({
        redis: redis.redis, prefix: redis.prefix, service: 'ingest-stock', logger: { info: () => {}, warn: () => {} },
        describe: () => ({
          environment: 'test',
          queues: [
            { name: 'ticks', prefix: redis.prefix, role: 'produces' },
            { name: 'backfill-alpaca', prefix: redis.prefix, role: 'consumes' },
            // Another stack's queue is never opened.
            { name: 'backfill-other', prefix: '{someone-else}', role: 'consumes' },
          ],
          ingest: {
            assetClass: 'stock', symbols: ['AAPL'], shards: 1,
            sources: [{ source: 'alpaca', state: 'reconnecting', since, reason: 'auth-failed: not authorized', lastMessageAt: null, symbols: ['AAPL'] }],
          },
        }),
      });
      await registration.start();
      try {
        const services = await eventually(async () => {
          const body = (await getJson('/api/services')).body as { services: { service: string; heartbeatAgeMs: number; ingest?: unknown }[]; unreadable: number };
          return body.services.some((s) => s.service === 'ingest-stock') ? body : undefined;
        }, 'ingest-stock listed', 20_000);
        expect(services.unreadable).toBe(0);
        // The dashboards this file started register themselves too.
        expect([...new Set(services.services.map((s) => s.service))].sort()).toEqual(['dashboard', 'ingest-stock']);
        const stock = services.services.find((s) => s.service === 'ingest-stock')!;
        expect(stock.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
        expect(stock.ingest).toMatchObject({ sources: [{ source: 'alpaca', state: 'reconnecting', reason: 'auth-failed: not authorized' }] });

        // Picked up with the registry's next heartbeat, without a restart.
        await eventually(async () => ((await getJson('/api/queues')).body.queues as { name: string }[]).some((q) => q.name === 'backfill-alpaca'), 'backfill-alpaca in /api/queues', 30_000);
        const names = ((await getJson('/api/queues')).body.queues as { name: string }[]).map((q) => q.name);
        expect(names).toEqual(['ticks', 'events', 'maintenance', 'backfill-sim', 'backfill-alpaca']);
        const board = (await (await fetch(`${basic.url}/admin/queues/api/queues`, { headers: auth })).json()) as { queues: { name: string }[] };
        expect(board.queues.map((q) => q.name).sort()).toEqual(['backfill-alpaca', 'backfill-sim', 'events', 'maintenance', 'ticks']);

        const series = (await getJson('/api/series')).body.series as { series: string; configured: boolean; assetClass: string }[];
        expect(series.find((s) => s.series === 'alpaca:AAPL')).toMatchObject({ configured: true, assetClass: 'stock' });
      } finally {
        await registration.stop();
      }
    });

    it('names tick shards no live writer consumes (WRITER_SHARDS), once the writers have been registered for a registry TTL', async () => {
      // Entries written as a writer and an ingest process that started a minute ago would write them.
      const startedAt = new Date(Date.now() - 60_000).toISOString();
      const put = async (id: string, details: object) => {
        const entry = { v: 1, id, host: 'elsewhere', pid: 1, version: '1', environment: 'test', startedAt, heartbeatAt: new Date().toISOString(), queues: [], ...details };
        await redis.redis.multi().set(serviceEntryKey(redis.prefix, id), JSON.stringify(entry), 'PX', 60_000).zadd(servicesIndexKey(redis.prefix), Date.now() + 60_000, id).exec();
      };
      await put('writer-a', { service: 'writer', writer: { shards: [0, 1] } });
      await put('ingest-x', { service: 'ingest-crypto', ingest: { assetClass: 'crypto', symbols: [], shards: 4, sources: [] } });
      try {
        const body = await eventually(async () => {
          const b = (await getJson('/api/services')).body as { orphanedShards: { shard: number; queue: string }[] };
          return b.orphanedShards.length > 0 ? b : undefined;
        }, 'orphaned shards listed', 20_000);
        expect(body.orphanedShards).toEqual([{ shard: 2, queue: 'ticks-2' }, { shard: 3, queue: 'ticks-3' }]);
        await put('writer-b', { service: 'writer', writer: { shards: [2, 3] } });
        await eventually(async () => ((await getJson('/api/services')).body.orphanedShards as unknown[]).length === 0, 'no orphaned shard once writer-b registered', 20_000);
      } finally {
        for (const id of ['writer-a', 'writer-b', 'ingest-x']) await redis.redis.multi().del(serviceEntryKey(redis.prefix, id)).zrem(servicesIndexKey(redis.prefix), id).exec();
      }
    });
  });
});

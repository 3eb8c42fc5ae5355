import { Queue } from 'bullmq';
import { DEMO_FEED_PORTS, demoFeedEnv } from '@tickvault/config';
import { verifyCandles } from '@tickvault/db';
import { QUEUE_NAMES, type TickBatchJob } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import type { ServiceProcess } from '@tickvault/testing';
import { DAY_MS, ENTRIES, checkLedger, fmt, log, portFree, queueCounts, reportLedger, rssMb, sleep, waitDrained, type Run } from '../lib.js';
import { earliest, simLedger, simStarts } from '../sim-ledger.js';

const SEED = 21;
const SIM_SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];

interface Sample {
  at: number;
  values: Record<string, number>;
}

/**
 * 10. Soak: the whole stack as `npm run demo` runs it (every fake provider from tools/fake-feeds, the
 * writer, the three ingest services, the scheduler and the dashboard) plus a `sim` crypto source as a
 * ledger, on a redis-server of its own (AOF everysec, noeviction) and a database of its own. RSS of
 * every process, Redis used_memory and the database size are sampled; at the end the services are
 * stopped in order and the data checked.
 */
export async function soak(run: Run): Promise<void> {
  const busy = [];
  for (const port of Object.values(DEMO_FEED_PORTS)) if (!(await portFree(port))) busy.push(port);
  if (!run.check(busy.length === 0, `demo feed ports in use (${busy.join(', ')}): is \`npm run demo\` running?`)) return;
  const minutes = run.settings.soakMinutes;
  const intervalMs = minutes <= 5 ? 5000 : 30_000;
  const db = await run.database('soak');
  const server = await run.redisServer({ appendfsync: 'everysec' });
  const prefix = '{chaos-soak}';
  const env: Record<string, string> = {
    ...demoFeedEnv('127.0.0.1'),
    CRYPTO_SOURCES: 'binance,coinbase,sim', SIM_SEED: String(SEED),
    DATABASE_URL: db.url, REDIS_URL: server.url, QUEUE_PREFIX: prefix,
    DASHBOARD_AUTH: 'off', DASHBOARD_PORT: '0',
  };

  const feeds = run.service(ENTRIES.fakeFeeds, {});
  await feeds.waitForLog((l) => 'fakeFeeds' in l, 60_000);
  const procs: Record<string, ServiceProcess> = {};
  procs.writer = run.service(ENTRIES.writer, env);
  procs['ingest-crypto'] = run.service(ENTRIES.ingestCrypto, env);
  procs['ingest-stock'] = run.service(ENTRIES.ingestStock, env);
  procs['ingest-macro'] = run.service(ENTRIES.ingestMacro, env);
  procs.scheduler = run.service(ENTRIES.scheduler, env);
  procs.dashboard = run.service(ENTRIES.dashboard, env);
  await Promise.all(Object.entries(procs).map(([name, p]) => p.waitForLog((l) => l.msg === `${name} started`, 90_000)));
  procs['fake-feeds'] = feeds;
  run.step(`stack up; soaking for ${fmt(minutes)} min, sampling every ${intervalMs / 1000} s`);

  const samples: Sample[] = [];
  const started = Date.now();
  const died: string[] = [];
  while (Date.now() - started < minutes * 60_000) {
    const values: Record<string, number> = {};
    for (const [name, p] of Object.entries(procs)) {
      const mb = rssMb(p.pid);
      if (mb === undefined) {
        if (!died.includes(name)) died.push(name);
      } else values[`rss:${name}`] = mb;
    }
    values['rss:redis-server'] = rssMb(server.pid) ?? 0;
    values['redis used_memory'] = Number((await server.info('memory')).used_memory) / 2 ** 20;
    const [row] = await db.sql<{ size: string; ticks: number }[]>`select pg_database_size(current_database())::text as size, (select count(*)::int from ticks) as ticks`;
    values['database size'] = Number(row!.size) / 2 ** 20;
    values.ticks = row!.ticks;
    samples.push({ at: Date.now(), values });
    if (died.length > 0) break;
    if (minutes > 5 && samples.length % 10 === 0) log(`    ${new Date().toISOString()} ${Object.entries(values).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
    await sleep(intervalMs);
  }
  run.check(died.length === 0, `processes died during the soak: ${died.join(', ')}`);

  // Stop in order: producers first, then let the writer drain, then the rest.
  const ingestStopped = Date.now();
  const exits: Record<string, number | null> = {};
  for (const name of ['ingest-crypto', 'ingest-stock', 'ingest-macro']) exits[name] = (await procs[name]!.stop()).code;
  const connection = run.redis(server.url);
  const queue = run.tickQueue(connection, prefix);
  await waitDrained(queue, 120_000);
  for (const name of ['scheduler', 'dashboard', 'writer']) exits[name] = (await procs[name]!.stop()).code;
  const counts = await queueCounts(queue);
  const events = new Queue<TickBatchJob>(QUEUE_NAMES.events, { connection, prefix });
  const eventCounts = await events.getJobCounts('waiting', 'failed');
  await events.close();

  // Levelling: after a warm-up quarter, compare the second half of the run with the first.
  const trend = (key: string) => {
    const points = samples.slice(Math.floor(samples.length / 4)).filter((s) => key in s.values);
    if (points.length < 4) return { first: NaN, last: NaN, growth: NaN, perMinute: NaN };
    const half = Math.floor(points.length / 2);
    const mean = (xs: Sample[]) => xs.reduce((n, s) => n + s.values[key]!, 0) / xs.length;
    const first = mean(points.slice(0, half));
    const last = mean(points.slice(half));
    const t0 = points[0]!.at;
    const xs = points.map((p) => (p.at - t0) / 60_000);
    const ys = points.map((p) => p.values[key]!);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    const slope = xs.reduce((n, x, i) => n + (x - mx) * (ys[i]! - my), 0) / (xs.reduce((n, x) => n + (x - mx) ** 2, 0) || 1);
    return { first, last, growth: (last - first) / first, perMinute: slope };
  };
  const keys = Object.keys(samples.at(-1)?.values ?? {}).filter((k) => k !== 'ticks');
  const verdicts: string[] = [];
  for (const key of keys) {
    const t = trend(key);
    const flat = Math.abs(t.growth) < 0.1;
    const verdict = key === 'database size'
      ? 'grows with the data (retention 7 days)'
      : minutes < 5
        ? 'too short to judge'
        : flat ? 'levels off' : t.growth > 0 ? 'still growing' : 'shrinking';
    verdicts.push(`${key}: ${fmt(t.first)} → ${fmt(t.last)} MB (${fmt(t.perMinute)} MB/min, ${verdict})`);
    run.figure(key, `${fmt(samples[0]!.values[key] ?? NaN)} → ${fmt(samples.at(-1)!.values[key] ?? NaN)} MB; second half vs first ${fmt(100 * t.growth)} %, ${fmt(t.perMinute)} MB/min: ${verdict}`);
  }
  const ticks = samples.at(-1)!.values.ticks ?? 0;
  const dbTrend = trend('database size');
  const tickRate = (ticks - (samples[0]!.values.ticks ?? 0)) / ((samples.at(-1)!.at - samples[0]!.at) / 60_000);
  run.figure('soak length / samples', `${fmt((samples.at(-1)!.at - started) / 60_000)} min / ${samples.length}`);
  run.figure('ticks stored (rate)', `${ticks} (${fmt(tickRate)}/min; database ${fmt((dbTrend.perMinute * 2 ** 20) / Math.max(1, tickRate))} bytes per tick incl. candles and indexes)`);
  run.figure('exit codes', Object.entries(exits).map(([k, v]) => `${k} ${v}`).join(', '));
  run.check(Object.values(exits).every((c) => c === 0), `not every service exited 0: ${JSON.stringify(exits)}`);
  run.check((counts.failed ?? 0) === 0, `${counts.failed} tick jobs failed`);
  run.check((eventCounts.failed ?? 0) === 0 && (eventCounts.waiting ?? 0) === 0, `event queue: ${eventCounts.waiting} waiting, ${eventCounts.failed} failed`);
  const [bySource] = await db.sql<{ s: string }[]>`select string_agg(source || ' ' || n, ', ' order by source) as s from (select source, count(*) as n from ticks group by source) x`;
  run.figure('ticks by source', bySource?.s ?? '');

  // Every source's candles against its stored ticks (and bars), over everything stored.
  const [range] = await db.sql<{ min: Date | null }[]>`select min(ts) as min from ticks`;
  const from = new Date(Date.UTC(range!.min!.getUTCFullYear(), range!.min!.getUTCMonth() - 1, 1));
  const verify = await verifyCandles(db.sql, { from, to: new Date(Date.now() + 40 * DAY_MS) });
  run.figure('candles verified (all sources) / mismatches', `${verify.checked} / ${verify.mismatches.length}`);
  run.check(verify.mismatches.length === 0, `${verify.mismatches.length} candle mismatches, e.g. ${JSON.stringify(verify.mismatches.slice(0, 2))}`);
  const starts = await simStarts(db.sql, SIM_SYMBOLS);
  if (run.check(starts !== undefined, 'the sim source stored nothing for some symbol')) {
    const to = new Date(ingestStopped - 1000);
    reportLedger(run, await checkLedger(db.sql, await simLedger(SEED, SIM_SYMBOLS, starts!, to), { sources: ['sim'], within: { from: earliest(starts!), to } }), 'sim:');
  }
  const warnings = Object.entries(procs).map(([name, p]) => [name, p.lines.filter((l) => (l.level ?? 0) >= 50).length] as const).filter(([, n]) => n > 0);
  if (warnings.length > 0) run.note(`error-level log lines during the soak: ${warnings.map(([k, n]) => `${k} ${n}`).join(', ')}`);
}

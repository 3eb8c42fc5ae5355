import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOB_NAMES, shardOf, tickShards, type TickBatchJob } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import { readServices, orphanedShardsNow, unconsumedShards } from '@tickvault/queue';
import {
  createTestDatabase, createTestRedis, eventually, repoPath, runEntry, ServiceProcess, syntheticTicks, toJobs,
  type TestDatabase, type TestRedis,
} from '@tickvault/testing';

const HOUR = 3_600_000;
const SHARDS = 4;
const SOURCE = 'placed';
// Stored while one writer is away: its own source, so its ticks are counted alone.
const LATE_SOURCE = 'late';
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT', 'TRX/USDT', 'LINK/USDT', 'AVAX/USDT', 'ATOM/USDT'];

/**
 * Writers placed by shard (WRITER_SHARDS): two writers with disjoint shards store every tick once and
 * each takes jobs only from its own shards; a shard left without a live writer is reported by name.
 */
describe('writers placed by shard (real processes)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let connection: Redis;
  let queues: Queue<TickBatchJob>[];
  let env: Record<string, string>;
  const writers: Record<'a' | 'b', ServiceProcess | undefined> = { a: undefined, b: undefined };
  const startWriter = async (name: 'a' | 'b', shards: string) => {
    const writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), { ...env, WRITER_SHARDS: shards });
    writers[name] = writer;
    return writer.waitForLog((l) => l.msg === 'writer started');
  };
  const jobsFor = (ticks: ReturnType<typeof syntheticTicks>) =>
    Promise.all(queues.map((queue, shard) => {
      const mine = ticks.filter((t) => shardOf(t.source, t.symbol, SHARDS) === shard);
      return queue.addBulk(toJobs(mine, 100).map((data) => ({ name: JOB_NAMES.tickBatch, data })));
    }));
  const events = (kind: string) => db.sql<{ details: { queue: string; shard: number; pending?: number } }[]>`
    select details from system_events where kind = ${kind} order by ts`;

  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queues = tickShards(redis.prefix, SHARDS).map((s) => new Queue<TickBatchJob>(s.name, { connection, prefix: s.prefix }));
    env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0', TICK_QUEUE_SHARDS: String(SHARDS), WRITER_CONCURRENCY: '4' };
    // The symbols must reach every shard, or the test proves nothing about one of them.
    for (const source of [SOURCE, LATE_SOURCE]) expect(new Set(SYMBOLS.map((s) => shardOf(source, s, SHARDS))).size).toBe(SHARDS);
  });

  afterAll(async () => {
    await Promise.all(Object.values(writers).map((w) => w?.stop()));
    await Promise.all(queues?.map((q) => q.close()) ?? []);
    connection?.disconnect();
    await redis?.cleanup();
    await db?.drop();
  });

  it('refuses a shard TICK_QUEUE_SHARDS does not have, naming WRITER_SHARDS', async () => {
    const writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), { ...env, WRITER_SHARDS: '2-4' });
    expect((await writer.exited).code).toBe(1);
    expect(writer.output.join('\n')).toContain('WRITER_SHARDS: names shard 4, but TICK_QUEUE_SHARDS=4 has shards 0-3 (got "2-4")');
  });

  it('two writers with disjoint shards store every tick once, each taking only its own shards', async () => {
    await Promise.all([startWriter('a', '0-1'), startWriter('b', '2-3')]);
    const { services } = await readServices(connection, redis.prefix);
    const owner = new Map(services.filter((s) => s.writer).flatMap((s) => s.writer!.shards.map((i) => [i, s.id] as const)));
    expect([...owner.keys()].sort()).toEqual([0, 1, 2, 3]);
    expect(new Set(owner.values()).size).toBe(2);
    expect(unconsumedShards(services, SHARDS)).toEqual([]);

    const ledger = syntheticTicks({ count: 24_000, symbols: SYMBOLS, startMs: Date.now() - 2 * HOUR, stepMs: 250, source: SOURCE });
    // Every job twice: a redelivery must change nothing, whichever writer it reaches.
    await jobsFor(ledger);
    await jobsFor(ledger);
    const total = (await Promise.all(queues.map((q) => q.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active', 'completed')))).reduce((a, b) => a + b, 0);
    await eventually(async () => {
      const done = await Promise.all(queues.map((q) => q.getJobCountByTypes('completed')));
      return done.reduce((a, b) => a + b, 0) === total;
    }, 'every job completed', 90_000, 250);

    for (const [shard, queue] of queues.entries()) {
      const completed = await queue.getJobs(['completed'], 0, -1);
      expect(completed.length, `jobs completed on shard ${shard}`).toBeGreaterThan(0);
      expect([...new Set(completed.map((j) => j.processedBy))], `who took shard ${shard}'s jobs`).toEqual([owner.get(shard)]);
    }
    const [stored] = await db.sql<{ n: number; volume: string }[]>`select count(*)::int as n, sum(size)::text as volume from ticks where source = ${SOURCE}`;
    expect(stored!.n).toBe(ledger.length);
    const [dupes] = await db.sql<{ n: number }[]>`select count(*)::int as n from (select 1 from ticks where source = ${SOURCE} group by symbol, trade_id having count(*) > 1) d`;
    expect(dupes!.n).toBe(0);
    const [candles] = await db.sql<{ v: string; n: number }[]>`select sum(volume)::text as v, sum(trade_count)::int as n from candles where source = ${SOURCE} and timeframe = '1h'`;
    expect(candles!.v).toBe(stored!.volume);
    expect(candles!.n).toBe(ledger.length);
    const verify = await verifyCandles(db.sql, { from: new Date(Date.now() - 3 * HOUR), to: new Date(Date.now() + HOUR), source: SOURCE });
    expect(verify.mismatches).toEqual([]);
    expect((await Promise.all(queues.map((q) => q.getJobCountByTypes('failed')))).every((n) => n === 0)).toBe(true);
  }, 120_000);

  it('names a shard no live writer consumes, with its waiting jobs, and clears once one does', async () => {
    const started = await writers.a!.waitForLog((l) => l.msg === 'writer started');
    expect((await writers.b!.stop()).code).toBe(0);
    const late = syntheticTicks({ count: 2_000, symbols: SYMBOLS, startMs: Date.now() - HOUR, stepMs: 250, source: LATE_SOURCE });
    await jobsFor(late);
    const waiting = await queues[2]!.getJobCountByTypes('waiting');
    expect(waiting).toBeGreaterThan(0);

    // Writer a looks every heartbeat and calls a shard orphaned once it has had no consumer for a registry TTL.
    const [two, three] = await eventually(async () => {
      const rows = await events('orphaned_shard');
      const found = [2, 3].map((i) => rows.find((r) => r.details.shard === i)?.details);
      return found.every(Boolean) && found;
    }, 'orphaned_shard events for shards 2 and 3', 75_000, 500);
    expect(two).toMatchObject({ queue: tickShards(redis.prefix, SHARDS)[2]!.name, shard: 2, pending: waiting });
    expect(three).toMatchObject({ shard: 3 });
    expect((await events('orphaned_shard')).every((r) => r.details.shard === 2 || r.details.shard === 3)).toBe(true);
    const logged = await writers.a!.waitForLog((l) => l.msg?.startsWith('no live writer consumes tick shard 2') === true);
    expect(logged).toMatchObject({ level: 50, pending: waiting });
    const metrics = await (await fetch(`http://127.0.0.1:${started.healthPort as number}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`tickvault_orphaned_shard\\{queue="${tickShards(redis.prefix, SHARDS)[2]!.name}"[^}]*\\} 1`));
    expect(metrics).toMatch(new RegExp(`tickvault_orphaned_shard\\{queue="${tickShards(redis.prefix, SHARDS)[0]!.name}"[^}]*\\} 0`));
    // Named in /readyz, which stays 200: writer a's own shards are being written.
    const ready = await fetch(`http://127.0.0.1:${started.healthPort as number}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { notes?: { orphanedShards: { shard: number }[] } }).notes?.orphanedShards.map((o) => o.shard)).toEqual([2, 3]);
    // What report, doctor and the status page read from the registry; `tickvault report` names them.
    const { services } = await readServices(connection, redis.prefix);
    expect(orphanedShardsNow(services, SHARDS, Date.now())).toEqual([2, 3]);
    const report = await runEntry(repoPath('tools/cli/src/main.ts'), ['report', '--json'], env, 60_000);
    expect((JSON.parse(report.stdout) as { warnings: string[] }).warnings, report.stderr).toContainEqual(expect.stringContaining('no live writer consumes tick shards 2 (ticks-2), 3 (ticks-3)'));
    // Writer a never took them.
    expect(await queues[2]!.getJobCountByTypes('waiting')).toBe(waiting);

    await startWriter('b', '2-3');
    await eventually(async () => {
      const rows = await events('orphaned_shard_consumed');
      return [2, 3].every((i) => rows.some((r) => r.details.shard === i));
    }, 'orphaned_shard_consumed events for shards 2 and 3', 30_000, 250);
    await eventually(async () => (await Promise.all(queues.map((q) => q.getJobCountByTypes('waiting', 'active', 'delayed')))).every((n) => n === 0), 'every shard drained', 60_000, 250);
    const [stored] = await db.sql<{ n: number; dupes: number }[]>`
      select count(*)::int as n, (count(*) - count(distinct (symbol, trade_id)))::int as dupes from ticks where source = ${LATE_SOURCE}`;
    expect(stored).toEqual({ n: late.length, dupes: 0 });
    const verify = await verifyCandles(db.sql, { from: new Date(Date.now() - 3 * HOUR), to: new Date(Date.now() + HOUR), source: LATE_SOURCE });
    expect(verify.mismatches).toEqual([]);
  }, 150_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { JOB_NAMES, liveChannel, shardOf, tickShards, type Tick, type TickBatchJob } from '@tickvault/schema';
import { migrate, verifyCandles } from '@tickvault/db';
import { createProducerConnection, createTickQueues, createWorkerConnection, type RedisClient, type TickQueue } from '@tickvault/queue';
import { createSimSource, type Observation } from '@tickvault/sources';
import { createTestDatabase, eventually, RedisCluster, repoPath, runEntry, ServiceProcess, spreadPrefix, type TestDatabase } from '@tickvault/testing';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOT/USDT', 'LTC/USDT', 'BNB/USDT'];
const SEED = 29;
const SHARDS = 3;
const FAILOVER_SOURCE = 'clusterfail';
const PRODUCER = 'cluster-failover-test';
const TICKS_PER_JOB = 20;
// Each shard's producer adds a job this often: ~60 jobs/s in all, steady while the master dies.
const PRODUCE_EVERY_MS = 50;
// A refused add (the dead master's slots, a cluster still failing over) is retried this often, as the
// ingest outbox does: the test's producer never gives up on a job it was not told is stored in Redis.
const RETRY_EVERY_MS = 100;

/**
 * The whole pipeline on a real Redis Cluster (3 masters, 3 replicas): ingest routes series to three
 * tick shards, whose hash tags put them on different masters; two writers consume them; every trade the
 * simulator made in the window is stored once with exact candles.
 */
describe('pipeline on a Redis Cluster (real processes)', () => {
  const cluster = new RedisCluster();
  let db: TestDatabase | undefined;
  let client: RedisClient | undefined;
  let subscriber: RedisClient | undefined;
  const liveMessages: string[] = [];
  const writers: ServiceProcess[] = [];
  let ingest: ServiceProcess | undefined;
  // A real ingest service through the failover too: its outbox holds what the dying master refused.
  let ingestThrough: ServiceProcess | undefined;
  let queues: Queue[] = [];
  let prefix = '';
  let env: Record<string, string> = {};
  let dashboard: ServiceProcess | undefined;

  beforeAll(async () => {
    await cluster.start();
    db = await createTestDatabase(migrate);
    prefix = await spreadPrefix(cluster, SHARDS);
    client = createProducerConnection('redis://127.0.0.1:1', 'tickvault-cluster-test', cluster.nodes);
    client.on('error', () => {});
    env = { DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: cluster.nodesSetting, QUEUE_PREFIX: prefix, HEALTH_PORT: '0', TICK_QUEUE_SHARDS: String(SHARDS) };
    // Live updates over cluster pub/sub: the writers publish after each commit, any node delivers.
    subscriber = createWorkerConnection('redis://127.0.0.1:1', 'tickvault-cluster-test-live', cluster.nodes);
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, message: string) => liveMessages.push(message));
    await subscriber.subscribe(liveChannel(prefix));
    for (let i = 0; i < 2; i++) writers.push(new ServiceProcess(repoPath('apps/writer/src/main.ts'), env));
    await Promise.all(writers.map((w) => w.waitForLog((l) => l.msg === 'writer started', 90_000)));
    ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...env, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: SYMBOLS.join(','), SIM_SEED: String(SEED), INGEST_FLUSH_MS: '100',
    });
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 90_000);
    queues = tickShards(prefix, SHARDS).map((s) => new Queue(s.name, { connection: client!, prefix: s.prefix }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close().catch(() => {})));
    await dashboard?.stop().catch(() => {});
    await ingest?.stop().catch(() => {});
    await ingestThrough?.stop().catch(() => {});
    await Promise.all(writers.map((w) => w.stop().catch(() => {})));
    client?.disconnect();
    subscriber?.disconnect();
    await db?.drop().catch(() => {});
    await cluster.destroy();
  }, 60_000);

  it('puts the shards on different masters and stores each trade once, candles exact', { timeout: 120_000 }, async () => {
    const masters = await Promise.all(tickShards(prefix, SHARDS).map((s) => cluster.masterOf(`${s.prefix}:${s.name}:wait`)));
    expect(new Set(masters).size, `masters of the shards: ${masters.join(', ')}`).toBeGreaterThanOrEqual(2);
    // The default prefix's three shards fall on three masters of an evenly split cluster (redis-cli --cluster create).
    const defaults = await Promise.all(tickShards('{tickvault}', 3).map((s) => cluster.masterOf(`${s.prefix}:${s.name}:wait`)));
    expect(new Set(defaults).size, `masters of {tickvault}'s shards: ${defaults.join(', ')}`).toBe(3);

    const started = Date.now();
    // Trades for a while, with every shard seen completing jobs (rather than a fixed wait).
    await eventually(async () => {
      const completed = await Promise.all(queues.map((q) => q.getJobCountByTypes('completed')));
      return Date.now() - started > 5_000 && completed.every((n) => n >= 3);
    }, 'every shard completing jobs', 60_000, 200);
    await ingest!.stop();
    const stopped = Date.now();
    await eventually(async () => {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')));
      return counts.every((c) => Object.values(c).every((n) => n === 0));
    }, 'every shard drained', 60_000, 200);

    const sim = createSimSource({ assetClass: 'crypto', seed: SEED });
    // Inside the window the sim traded in: from a second after the start to a second before the stop.
    const from = new Date(started + 1000);
    const to = new Date(stopped - 1000);
    let total = 0;
    for (const symbol of SYMBOLS) {
      const expected: Observation[] = [];
      for await (const page of sim.history({ symbol, from, to })) expected.push(...page);
      const stored = await db!.sql<{ trade_id: string; n: number }[]>`
        select trade_id, count(*)::int as n from ticks
        where source = 'sim' and symbol = ${symbol} and ts >= ${from} and ts < ${to} group by trade_id`;
      expect(stored.filter((r) => r.n !== 1)).toEqual([]);
      expect(stored.map((r) => r.trade_id).sort()).toEqual(expected.map((o) => o.tradeId).sort());
      total += stored.length;
    }
    expect(total).toBeGreaterThan(0);
    const verified = await verifyCandles(db!.sql, { from: new Date(started - 3_600_000), to: new Date(stopped + 3_600_000) });
    expect(verified.mismatches).toEqual([]);
    expect(liveMessages.length, 'live updates received over cluster pub/sub').toBeGreaterThan(0);
  });

  it('a master killed while ticks flow: its replica takes over, writes resume, what Redis still holds is stored once', { timeout: 240_000 }, async () => {
    const symbols = pickSymbolPerShard();
    const shardQueues = createTickQueues(client!, prefix, SHARDS);
    const producers = symbols.map((symbol, shard) => new ShardProducer(shardQueues[shard]!, shard, symbol));
    try {
      const victimPort = await cluster.masterOf(`${tickShards(prefix, SHARDS)[0]!.prefix}:ticks:wait`);
      const victim = producers.find((p) => p.shard === 0)!;
      const storedMaxId = async () => Number((await db!.sql<{ m: string | null }[]>`
        select max(trade_id::bigint)::text as m from ticks where source = ${FAILOVER_SOURCE} and symbol = ${victim.symbol}`)[0]?.m ?? 0);
      ingestThrough = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
        ...env, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: SYMBOLS.join(','), SIM_SEED: String(SEED), INGEST_FLUSH_MS: '100',
      });
      await ingestThrough.waitForLog((l) => l.msg === 'ingest-crypto started', 90_000);
      const ingestStarted = Date.now();
      for (const p of producers) p.start();
      // Before: every shard stores.
      await eventually(async () => (await Promise.all(producers.map((p) => p.storedJobs(db!.sql)))).every((n) => n >= 20), 'every shard storing before the failover', 60_000, 200);

      const killedAt = Date.now();
      const ackedBeforeKill = victim.lastAckedTradeId();
      const { promoted } = await cluster.killMaster(victimPort);
      const promotedAt = Date.now();
      // Writes resumed: a tick the producer had acknowledged after the kill is in Postgres.
      await eventually(async () => (await storedMaxId()) > ackedBeforeKill && victim.ackedAfter(killedAt) > 0, 'writes to the failed-over shard resuming', 120_000, 100);
      const resumedAt = Date.now();
      // Some more traffic after the failover, then stop and drain.
      const more = victim.acked.length + 20;
      await eventually(() => victim.acked.length >= more, 'the producer adding to the promoted master', 60_000, 100);
      await Promise.all(producers.map((p) => p.stop()));
      await ingestThrough.stop();
      const ingestStopped = Date.now();
      await eventually(async () => {
        const counts = await Promise.all(shardQueues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')));
        return counts.every((c) => Object.values(c).every((n) => n === 0));
      }, 'every shard drained (nothing failed)', 120_000, 200);
      const drainedAt = Date.now();

      // Ground truth: what the producer was told is in Redis, what Postgres has, what Redis still has.
      const stored = await db!.sql<{ symbol: string; trade_id: string; n: number }[]>`
        select symbol, trade_id, count(*)::int as n from ticks where source = ${FAILOVER_SOURCE} group by symbol, trade_id`;
      expect(stored.filter((r) => r.n !== 1), 'ticks stored twice').toEqual([]);
      const storedIds = new Set(stored.map((r) => `${r.symbol}|${r.trade_id}`));
      const ackedIds = producers.flatMap((p) => p.acked.flatMap(tickIds));
      const sentIds = new Set(producers.flatMap((p) => p.sent.flatMap(tickIds)));
      expect([...storedIds].filter((id) => !sentIds.has(id)), 'stored ticks nobody sent').toEqual([]);
      const lost = ackedIds.filter((id) => !storedIds.has(id));
      // Every job Redis still holds (completed ones are kept: removeOnComplete false) is stored, once.
      const inRedis = (await Promise.all(shardQueues.map((q) => q.getJobs(['completed'], 0, -1)))).flat().filter((job) => job.data.producer === PRODUCER);
      const missingFromRedisJobs = inRedis.flatMap((job) => tickIds(job.data)).filter((id) => !storedIds.has(id));
      expect(missingFromRedisJobs, 'ticks of jobs Redis holds as completed, not in Postgres').toEqual([]);
      // Only the failed master's shard can have lost anything.
      expect(lost.filter((id) => !id.startsWith(`${victim.symbol}|`))).toEqual([]);
      const verified = await verifyCandles(db!.sql, { from: new Date(BASE_MS - 3_600_000), to: new Date(Date.now() + 3_600_000) });
      expect(verified.mismatches).toEqual([]);

      // The simulator's trades while ingest ran through the failover: none twice; any missing can only be
      // acknowledged-then-lost ones of the failed master's shard, from around the kill.
      const from = new Date(ingestStarted + 1000);
      const to = new Date(ingestStopped - 1000);
      const sim = createSimSource({ assetClass: 'crypto', seed: SEED });
      const simMissing: { symbol: string; ts: string }[] = [];
      for (const symbol of SYMBOLS) {
        const expected: Observation[] = [];
        for await (const page of sim.history({ symbol, from, to })) expected.push(...page);
        const rows = await db!.sql<{ trade_id: string; n: number }[]>`
          select trade_id, count(*)::int as n from ticks where source = 'sim' and symbol = ${symbol} and ts >= ${from} and ts < ${to} group by trade_id`;
        expect(rows.filter((r) => r.n !== 1), `${symbol} trades stored twice`).toEqual([]);
        const have = new Set(rows.map((r) => r.trade_id));
        simMissing.push(...expected.filter((o) => !have.has(o.tradeId!)).map((o) => ({ symbol, ts: o.ts })));
      }
      const outsideLossWindow = simMissing.filter((m) => shardOf('sim', m.symbol, SHARDS) !== 0 || Date.parse(m.ts) < killedAt - 10_000 || Date.parse(m.ts) > promotedAt + 10_000);
      expect(outsideLossWindow, 'sim trades missing other than around the failed master').toEqual([]);

      const figures = {
        simTradesMissing: simMissing.length,
        ackedTicks: ackedIds.length,
        storedTicks: storedIds.size,
        lostAckedTicks: lost.length,
        lostAckedJobs: lost.length / TICKS_PER_JOB,
        refusedAddsDuringFailover: victim.refused,
        killToPromotedMs: promotedAt - killedAt,
        // The longest the shard's producer waited for an add to be acknowledged around the failover.
        longestAckGapMs: victim.longestAckGap(),
        killToWritesResumedMs: resumedAt - killedAt,
        // Jobs that were active on the dead master come back once their lock expires (WRITER_LOCK_DURATION_MS).
        killToDrainedMs: drainedAt - killedAt,
        victimPort, promoted,
      };
      console.log(`redis cluster failover figures: ${JSON.stringify(figures)}`);
    } finally {
      await Promise.all(producers.map((p) => p.stop()));
      await Promise.all(shardQueues.map((q) => q.close().catch(() => {})));
    }
  });

  it('report, doctor, /api/queues and Bull Board read every shard\'s queue on the cluster', { timeout: 120_000 }, async () => {
    const shardNames = tickShards(prefix, SHARDS).map((s) => s.name);
    const report = await runEntry(repoPath('tools/cli/src/main.ts'), ['report', '--json'], { ...env, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: SYMBOLS.join(',') });
    expect(report.code, report.stderr).toBe(0);
    const parsed = JSON.parse(report.stdout) as { errors: string[]; queues: { name: string; counts: Record<string, number> }[]; redisMemory: { node?: string } };
    expect(parsed.errors).toEqual([]);
    for (const name of shardNames) {
      const queue = parsed.queues.find((q) => q.name === name);
      expect(queue, `${name} in report`).toBeDefined();
      expect(queue!.counts.completed, `${name} completed jobs`).toBeGreaterThan(0);
    }
    expect(parsed.redisMemory.node, 'memory read per master').toMatch(/^127\.0\.0\.1:71\d\d$/);

    const doctor = await runEntry(repoPath('tools/cli/src/main.ts'), ['doctor', '--json'], env);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
    expect(checks.find((c) => c.name === 'Redis reachable')?.status, doctor.stdout).toBe('ok');
    expect(checks.find((c) => c.name === 'Redis noeviction')?.status, doctor.stdout).toBe('ok');

    dashboard = new ServiceProcess(repoPath('apps/dashboard/src/main.ts'), {
      ...env, DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_AUTH: 'bearer', DASHBOARD_TOKEN: 'cluster-test-token-123', CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: SYMBOLS.join(','),
    });
    const started = await dashboard.waitForLog((l) => l.msg === 'dashboard started', 90_000);
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${started.port as number}${path}`, { headers: { authorization: 'Bearer cluster-test-token-123' } });
      expect(res.status, path).toBe(200);
      return res.json() as Promise<{ queues: { name: string }[] }>;
    };
    // Ready means its Redis client and its live subscription (cluster pub/sub) are both up.
    const ready = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${started.healthPort as number}/readyz`);
      return res.status === 200 ? res : undefined;
    }, 'the dashboard ready on the cluster', 30_000, 200);
    expect(ready.status).toBe(200);
    const board = (await get('/admin/queues/api/queues')).queues.map((q) => q.name);
    const api = (await get('/api/queues')).queues.map((q) => q.name);
    for (const name of shardNames) {
      expect(board, 'Bull Board queues').toContain(name);
      expect(api, '/api/queues').toContain(name);
    }
  });
});

const BASE_MS = Date.now() - 2 * 3_600_000;

/** One symbol per shard, so a shard's jobs and ticks are known by their symbol. */
function pickSymbolPerShard(): string[] {
  const picked: string[] = [];
  for (let i = 0; picked.length < SHARDS; i++) {
    const symbol = `C${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + Math.floor(i / 26))}/USDT`;
    if (shardOf(FAILOVER_SOURCE, symbol, SHARDS) === picked.length) picked.push(symbol);
  }
  return picked;
}

/**
 * Adds jobs of one symbol to one shard, each until Redis acknowledges it (a refused add is retried
 * with the same job id, as the ingest outbox does, so a retry of an add that did reach Redis is ignored).
 */
class ShardProducer {
  readonly sent: TickBatchJob[] = [];
  readonly acked: (TickBatchJob & { ackedAt: number })[] = [];
  refused = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly queue: TickQueue, readonly shard: number, readonly symbol: string) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const n = this.acked.length;
      const job = this.sent[n] ?? this.makeJob(n);
      try {
        await this.queue.add(JOB_NAMES.tickBatch, job, { jobId: `cf-${this.shard}-${n}`, removeOnComplete: false });
        this.acked.push({ ...job, ackedAt: Date.now() });
        await sleep(PRODUCE_EVERY_MS);
      } catch {
        this.refused++;
        await sleep(RETRY_EVERY_MS);
      }
    }
  }

  private makeJob(n: number): TickBatchJob {
    const ticks: Tick[] = Array.from({ length: TICKS_PER_JOB }, (_, k) => {
      const i = n * TICKS_PER_JOB + k;
      return {
        source: FAILOVER_SOURCE, symbol: this.symbol, assetClass: 'crypto', ts: new Date(BASE_MS + i * 10).toISOString(),
        price: (100 + ((i * 7919) % 5000) / 100).toFixed(2), size: (((i * 104729) % 1000) / 100 + 0.01).toFixed(2), tradeId: String(1_000_000 + i),
      };
    });
    const job: TickBatchJob = { v: 1, producer: PRODUCER, ticks, rejected: [] };
    this.sent.push(job);
    return job;
  }

  lastAckedTradeId(): number {
    return Number((this.acked.at(-1)?.ticks.at(-1) as Tick | undefined)?.tradeId ?? 0);
  }

  ackedAfter(at: number): number {
    return this.acked.filter((job) => job.ackedAt > at).length;
  }

  longestAckGap(): number {
    return Math.max(0, ...this.acked.slice(1).map((job, i) => job.ackedAt - this.acked[i]!.ackedAt));
  }

  async storedJobs(sql: TestDatabase['sql']): Promise<number> {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ticks where source = ${FAILOVER_SOURCE} and symbol = ${this.symbol}`;
    return Math.floor((row?.n ?? 0) / TICKS_PER_JOB);
  }
}

/** `symbol|tradeId` of every tick of a job (the producer's own jobs: ticks are Ticks). */
const tickIds = (job: TickBatchJob): string[] => (job.ticks as Tick[]).map((t) => `${t.symbol}|${t.tradeId}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

import net from 'node:net';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfigOrExit, maskUrl } from '@tickvault/config';
import { createDb, migrate, type Sql } from '@tickvault/db';
import { JOB_NAMES, QUEUE_NAMES, type Tick, type TickBatchJob } from '@tickvault/schema';
import { ServiceProcess, repoPath, syntheticTicks, toJobs } from '@tickvault/testing';

/**
 * End-to-end throughput: N ticks pushed by a producer through the real queue into the real writer
 * process (ticks + 6 candle timeframes + retention), against the raw COPY rate into the same table,
 * measured in the same run on the same machine. Prints figures and their ratio; asserts nothing.
 */
const { values } = parseArgs({
  options: {
    ticks: { type: 'string', default: '300000' },
    'per-job': { type: 'string', default: '500' },
    symbols: { type: 'string', default: '20' },
  },
});
const N = Number(values.ticks);
const PER_JOB = Number(values['per-job']);
const SYMBOLS = Array.from({ length: Number(values.symbols) }, (_, i) => `S${i}/USDT`);
const PREFIX = '{tickvault-bench}';

const config = loadConfigOrExit('bench', ['DATABASE_URL', 'REDIS_URL']);
const benchUrl = new URL(config.DATABASE_URL);
benchUrl.pathname = '/tickvault_bench';

const admin = createDb(config.DATABASE_URL.replace(/\/[^/]*$/, '/postgres'), { max: 1 });
await admin`drop database if exists tickvault_bench with (force)`;
await admin.end();
await migrate(benchUrl.toString());
const sql = createDb(benchUrl.toString(), { max: 2 });
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const queue = new Queue<TickBatchJob>(QUEUE_NAMES.ticks, { connection: redis, prefix: PREFIX });
await queue.obliterate({ force: true });

const startMs = Date.now() - 2 * 3_600_000;
const ticks = syntheticTicks({ count: N, symbols: SYMBOLS, startMs, stepMs: Math.max(1, Math.floor(3_600_000 / N)) });

log(`tickvault bench: ${N} ticks, ${PER_JOB} per job, ${SYMBOLS.length} symbols; ${cpus().length} cores; db ${maskUrl(benchUrl.toString())}`);

const copyRate = await measureCopy(sql, ticks);
await sql`truncate ticks, candles, candle_cutoffs`;
const pipeline = await measurePipeline();

// The same run again with the dashboard up and a live-stream client that never reads: storage must
// not wait for readers, so the rate should stay within the run-to-run noise.
await sql`truncate ticks, candles, candle_cutoffs`;
const stalled = await withStalledLiveReader(() => measurePipeline());

log('');
log(`raw COPY into ticks:         ${fmt(copyRate)} ticks/s`);
log(`end-to-end queue → writer:   ${fmt(pipeline.rate)} ticks/s  (enqueue alone ${fmt(pipeline.enqueueRate)} ticks/s)`);
log(`ratio end-to-end / COPY:     ${(pipeline.rate / copyRate).toFixed(2)}`);
log(`with a live client that never reads: ${fmt(stalled.result.rate)} ticks/s  (ratio to the run without: ${(stalled.result.rate / pipeline.rate).toFixed(2)}; the dashboard dropped ${stalled.dropped} events for it)`);
log(`candles written:             ${pipeline.candles}`);

await queue.obliterate({ force: true });
await queue.close();
redis.disconnect();
await sql.end();

async function measureCopy(db: Sql, rows: readonly Tick[]): Promise<number> {
  // Rows are rendered before the clock starts: only the database's work is timed.
  const lines = rows.map((t) => `copy\t${t.symbol}\t${t.assetClass}\t${t.ts}\t${t.price}\t${t.size}\t${t.tradeId}\n`);
  const started = performance.now();
  const stream = await db`copy ticks (source, symbol, asset_class, ts, price, size, trade_id) from stdin`.writable();
  for (let i = 0; i < lines.length; i += 5000) {
    if (!stream.write(lines.slice(i, i + 5000).join(''))) await new Promise((r) => stream.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  const seconds = (performance.now() - started) / 1000;
  const [row] = await db`select count(*)::int as n from ticks where source = 'copy'`;
  if (row!.n !== rows.length) throw new Error(`COPY stored ${row!.n} of ${rows.length}`);
  return rows.length / seconds;
}

async function measurePipeline() {
  const writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), {
    DATABASE_URL: benchUrl.toString(),
    REDIS_URL: config.REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    HEALTH_PORT: '0',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  });
  await writer.waitForLog(() => true, 30_000).catch(() => {});
  await waitUntil(async () => (await sql`select count(*)::int as n from system_events where kind = 'startup'`)[0]!.n > 0);
  const jobs = toJobs(ticks, PER_JOB, 'bench');
  const started = performance.now();
  for (let i = 0; i < jobs.length; i += 100) {
    await queue.addBulk(jobs.slice(i, i + 100).map((data) => ({ name: JOB_NAMES.tickBatch, data })));
  }
  const enqueued = performance.now();
  await waitUntil(async () => (await sql`select count(*)::int as n from ticks`)[0]!.n >= N, 10);
  const finished = performance.now();
  const [candles] = await sql`select count(*)::int as n from candles`;
  await writer.stop();
  return {
    rate: N / ((finished - started) / 1000),
    enqueueRate: N / ((enqueued - started) / 1000),
    candles: candles!.n as number,
  };
}

/** Runs `measure` while a dashboard process serves one SSE client that never reads its socket. */
async function withStalledLiveReader<T>(measure: () => Promise<T>): Promise<{ result: T; dropped: string }> {
  const dashboard = new ServiceProcess(repoPath('apps/dashboard/src/main.ts'), {
    DATABASE_URL: benchUrl.toString(),
    REDIS_URL: config.REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    DASHBOARD_AUTH: 'off',
    DASHBOARD_PORT: '0',
    HEALTH_PORT: '0',
    LOG_LEVEL: 'info',
    CRYPTO_SYMBOLS: SYMBOLS.slice(0, 3).join(','),
  });
  const started = await dashboard.waitForLog((l) => l.msg === 'dashboard started', 30_000);
  const series = SYMBOLS.slice(0, 10).map((s) => `sim:${s}`).join(',');
  const socket = net.connect(started.port as number, '127.0.0.1');
  socket.pause(); // never read: the kernel buffers fill, then the server must cope on its own
  socket.write(`GET /api/stream?series=${encodeURIComponent(series)}&timeframe=1m HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`);
  try {
    const result = await measure();
    const metrics = await (await fetch(`http://127.0.0.1:${started.healthPort as number}/metrics`)).text();
    const dropped = /^tickvault_dashboard_stream_dropped_events(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? 'an unknown number of';
    return { result, dropped };
  } finally {
    socket.destroy();
    await dashboard.stop();
  }
}

async function waitUntil(check: () => Promise<boolean>, intervalMs = 50): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, intervalMs));
}

function fmt(rate: number): string {
  return Math.round(rate).toLocaleString('en-US').padStart(9);
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

import { Queue } from 'bullmq';
import { JOB_NAMES, QUEUE_NAMES } from '@tickvault/schema';
import { ServiceProcess, repoPath, type LogLine } from '@tickvault/testing';
import { CpuAccount, describeCpu, log, PgActivitySampler, record, resetState, RssSampler, serviceEnv, sleep, startWriters, type BenchContext } from '../lib.js';

export interface GapFillOptions {
  days: number;
  symbols: number;
  /** The fake's average trades per second per symbol: enough that every minute has a trade. */
  tradesPerSecond: number;
  weightPerMinute: number;
}

const BASES = ['BTC', 'ETH', 'SOL', 'BNB', 'XRP', 'ADA', 'DOGE', 'AVAX', 'DOT', 'LINK', 'TRX', 'LTC', 'BCH', 'ATOM', 'NEAR', 'UNI', 'XLM', 'ETC', 'FIL', 'APT'];
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * The weekly gap-fill on an empty database: the fake Binance (its own process, `days` of history for
 * every symbol), the real writer, the real ingest-crypto (CRYPTO_SOURCES=binance, pointed at the
 * fake, its Redis-shared limiter at Binance's 6000 weight/min) and the real scheduler, told to run
 * gap-fill now (a `gap-fill` job on `maintenance`). The clock runs from that job until every 1m candle
 * of the fake's `days` × 24 h × `symbols` is stored.
 */
export async function gapfill(ctx: BenchContext, o: GapFillOptions): Promise<void> {
  const bases = Array.from({ length: o.symbols }, (_, i) => BASES[i] ?? `X${i}`);
  const symbols = bases.map((b) => `${b}/USDT`);
  const keep1m = Math.max(11_000, o.days * 1440 + 920);
  const retention = { CANDLE_RETENTION: `2000,1m=${keep1m}`, TICK_RETENTION_DAYS: String(o.days + 1) };
  log(`gap-fill: ${o.days} days of 1m candles × ${o.symbols} symbols from the fake Binance (${o.tradesPerSecond} trades/s/symbol), ${o.weightPerMinute} weight/min`);
  await resetState(ctx);

  const fake = new ServiceProcess(repoPath('tools/bench/src/fake-binance.ts'), {
    FAKE_SYMBOLS: bases.map((b) => `${b}USDT`).join(','),
    FAKE_HISTORY_MS: String(o.days * DAY_MS + 10 * MINUTE_MS),
    FAKE_TRADES_PER_SECOND: String(o.tradesPerSecond),
    FAKE_WEIGHT_PER_MINUTE: String(o.weightPerMinute),
  });
  const procs: ServiceProcess[] = [fake];
  let writers: Awaited<ReturnType<typeof startWriters>> | undefined;
  const maintenance = new Queue(QUEUE_NAMES.maintenance, { connection: ctx.redis, prefix: ctx.prefix });
  try {
    const ready = await fake.waitForLog((l) => l.msg === 'fake binance ready', 600_000);
    record(ctx, { scenario: 'gap-fill', metric: 'fake Binance: generating the history took', value: (ready.generateMs as number) / 1000, unit: 's', note: 'before the clock starts' });
    // Every minute fully inside the fake's history, `days` long, ending well before the 5 min settle time.
    const from = Math.ceil((ready.historyFromMs as number) / MINUTE_MS) * MINUTE_MS;
    const to = from + o.days * DAY_MS;
    const expected = o.days * 1440 * o.symbols;

    writers = await startWriters(ctx, 1, retention);
    const ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), {
      ...serviceEnv(ctx, { LOG_LEVEL: 'info' }),
      CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: symbols.join(','),
      BINANCE_WS_URL: ready.wsUrl as string, BINANCE_REST_URL: ready.restUrl as string,
      BINANCE_WEIGHT_PER_MINUTE: String(o.weightPerMinute),
    });
    procs.push(ingest);
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 60_000);
    const scheduler = new ServiceProcess(repoPath('apps/scheduler/src/main.ts'), {
      ...serviceEnv(ctx, { LOG_LEVEL: 'info' }),
      CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: symbols.join(','), STOCK_SOURCES: '', MACRO_SOURCES: '',
      ...retention,
      // Only the run-now job below: no schedule fires during the bench.
      GAP_FILL_CRON: '0 0 1 1 *', HEALTH_CRON: '0 0 1 1 *',
    });
    procs.push(scheduler);
    await scheduler.waitForLog((l) => l.msg === 'scheduler started', 60_000);

    const klines = () => (latest(fake, 'stats')?.requests as Record<string, number> | undefined)?.['/api/v3/klines'] ?? 0;
    const weight = () => (latest(fake, 'stats')?.weightUsed as number | undefined) ?? 0;
    await sleep(1200);
    const pagesBefore = klines();
    const weightBefore = weight();
    const rss = new RssSampler({ writer: writers.procs[0]!.pid, ingest: ingest.pid, scheduler: scheduler.pid, fake: fake.pid }, 250);
    const cpu = new CpuAccount(() => ({ writer: writers!.procs.map((p) => p.pid), ingest: [ingest.pid], scheduler: [scheduler.pid], fake: [fake.pid], bench: [process.pid] }));
    const activity = new PgActivitySampler(ctx.sql);
    const started = performance.now();
    const startedEpoch = Date.now();
    const run = await maintenance.add(JOB_NAMES.gapFill, { requestedBy: 'bench' });
    let stored = 0;
    let firstStoredS: number | undefined;
    const deadline = Date.now() + 900_000;
    while (Date.now() < deadline) {
      const [row] = await ctx.sql`
        select count(*)::int as n from candles
        where source = 'binance' and timeframe = '1m' and open_time >= ${new Date(from)} and open_time < ${new Date(to)}`;
      stored = row!.n as number;
      if (stored > 0 && firstStoredS === undefined) firstStoredS = (performance.now() - started) / 1000;
      if (stored >= expected) break;
      for (const p of procs) if (p.lines.some((l) => l.msg === 'cannot start')) throw new Error(`a process failed:\n${p.output.slice(-20).join('\n')}`);
      await sleep(250);
    }
    const seconds = (performance.now() - started) / 1000;
    const used = cpu.stop();
    const backends = await activity.stop();
    rss.stop();
    await sleep(1200);
    const pages = klines() - pagesBefore;
    const weightUsed = weight() - weightBefore;
    const job = await maintenance.getJob(run.id!);
    const detect = job?.finishedOn && job.processedOn ? (job.finishedOn - job.processedOn) / 1000 : NaN;
    const gaps = await ctx.sql`select status, count(*)::int as n, sum(missing)::int as missing from gaps group by status order by status`;
    const [all1m] = await ctx.sql`select count(*)::int as n from candles where source = 'binance' and timeframe = '1m'`;

    record(ctx, {
      scenario: 'gap-fill', metric: `1m candles stored (${o.days} d × ${o.symbols} symbols)`, value: stored, unit: `of ${expected}`,
      note: `${all1m!.n} 1m candles in all (the window reaches past the fake's history; the live stream adds the current minutes)`,
    });
    record(ctx, { scenario: 'gap-fill', metric: 'total time, run-now → all candles stored', value: seconds, unit: 's', note: `first candle after ${firstStoredS?.toFixed(1)} s; gap detection ${detect.toFixed(2)} s` });
    record(ctx, { scenario: 'gap-fill', metric: 'klines pages served', value: pages, unit: 'pages', note: `${weightUsed} weight; budget ${o.weightPerMinute}/min` });
    record(ctx, { scenario: 'gap-fill', metric: 'pages/s', value: pages / seconds, unit: 'pages/s', note: `limiter ceiling ${(o.weightPerMinute * 0.9) / 2 / 60} pages/s (weight 2, 10% reserve)` });
    record(ctx, { scenario: 'gap-fill', metric: 'rows/s (candles stored)', value: stored / seconds, unit: 'rows/s' });
    record(ctx, { scenario: 'gap-fill', metric: 'gaps recorded by status', value: gaps.map((g) => `${g.status} ${g.n}`).join(', '), unit: '' });
    record(ctx, {
      scenario: 'gap-fill', metric: 'peak RSS writer / ingest-crypto / scheduler', value: `${Math.round(rss.peak('writer'))} / ${Math.round(rss.peak('ingest'))} / ${Math.round(rss.peak('scheduler'))}`, unit: 'MB',
      note: `fake Binance ${Math.round(rss.peak('fake'))} MB`,
    });
    // When the ingest service had fetched every page and handed it to Redis (it logs each backfill job done).
    const done = ingest.lines.filter((l) => l.msg === 'backfill done' && typeof l.time === 'number').map((l) => l.time as number);
    record(ctx, {
      scenario: 'gap-fill', metric: 'ingest: last backfill fetched and queued after', value: done.length > 0 ? (Math.max(...done) - startedEpoch) / 1000 : NaN, unit: 's',
      note: `${done.length} backfill jobs done; the rest of the total is the writer draining the queue`,
    });
    record(ctx, { scenario: 'gap-fill', metric: 'CPU cores used', value: describeCpu(used), unit: '' });
    record(ctx, { scenario: 'gap-fill', metric: 'writer backends by state', value: backends, unit: '' });
    if (stored < expected) throw new Error(`gap-fill stored ${stored} of ${expected} candles within the deadline`);
  } finally {
    await maintenance.close();
    for (const p of procs.slice(1).reverse()) await p.stop();
    await writers?.stop();
    await fake.stop();
  }
  await resetState(ctx);
}

function latest(proc: ServiceProcess, msg: string): LogLine | undefined {
  for (let i = proc.lines.length - 1; i >= 0; i--) if (proc.lines[i]!.msg === msg) return proc.lines[i];
  return undefined;
}

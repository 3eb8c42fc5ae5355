import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { createWorkerConnection } from '@tickvault/queue';
import { loadConfigOrExit, maskUrl } from '@tickvault/config';
import { createDb, migrate } from '@tickvault/db';
import { createTickQueue, fmtNumber, log, resetState, type BenchContext, type Figure } from './lib.js';
import { throughput } from './scenarios/throughput.js';
import { baselines } from './scenarios/baselines.js';
import { latency } from './scenarios/latency.js';
import { memory } from './scenarios/memory.js';
import { retention } from './scenarios/retention.js';
import { gapfill } from './scenarios/gapfill.js';
import { migration } from './scenarios/migration.js';
import { startup } from './scenarios/startup.js';
import { capacity } from './scenarios/capacity.js';

/**
 * The benchmark suite. Every scenario drives the real processes (writer, ingest-crypto, scheduler)
 * against its own database (`tickvault_bench`, recreated) and queue prefix, prints figures and ratios
 * measured in this run, and asserts no timing: the figures are read, not checked.
 *
 *   npm run bench                                   # every scenario, full sizes (about 10 minutes on 2 cores)
 *   npm run bench -- --quick                        # every scenario, small sizes (a smoke run)
 *   npm run bench -- --only throughput,latency      # some scenarios
 *   npm run bench -- --retention-ticks 10000000     # sizes: see the options below
 */
const SCENARIOS = ['throughput', 'baselines', 'latency', 'memory', 'retention', 'migration', 'gapfill', 'startup', 'capacity'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    ticks: { type: 'string' },
    'per-job': { type: 'string', default: '500' },
    symbols: { type: 'string', default: '20' },
    'baseline-ticks': { type: 'string' },
    'latency-rates': { type: 'string', default: '5000,20000' },
    'latency-seconds': { type: 'string' },
    backlogs: { type: 'string' },
    'retention-ticks': { type: 'string' },
    'migration-ticks': { type: 'string' },
    'gapfill-days': { type: 'string' },
    'gapfill-symbols': { type: 'string' },
    'gapfill-trades-per-second': { type: 'string', default: '0.2' },
  },
});
const quick = values.quick!;
const num = (name: keyof typeof values, full: number, small: number): number => {
  const raw = values[name];
  const value = raw === undefined ? (quick ? small : full) : Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} must be a positive number (got "${String(raw)}")\n`);
    process.exit(2);
  }
  return value;
};
const list = (raw: string): number[] => raw.split(',').map((s) => Number(s.trim())).filter((n) => Number.isFinite(n) && n > 0);

const selected = (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as Scenario[];
const unknown = selected.filter((s) => !SCENARIOS.includes(s));
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}\n`);
  process.exit(2);
}

const sizes = {
  ticks: num('ticks', 300_000, 50_000),
  perJob: num('per-job', 500, 500),
  symbols: num('symbols', 20, 20),
  baselineTicks: num('baseline-ticks', 10_000, 3_000),
  latencyRates: list(values['latency-rates']!),
  latencySeconds: num('latency-seconds', 30, 5),
  backlogs: values.backlogs ? list(values.backlogs) : quick ? [20_000, 100_000] : [100_000, 1_000_000],
  retentionTicks: num('retention-ticks', 10_000_000, 300_000),
  migrationTicks: num('migration-ticks', 2_000_000, 100_000),
  gapfillDays: num('gapfill-days', 7, 1),
  gapfillSymbols: num('gapfill-symbols', 20, 5),
  gapfillTradesPerSecond: num('gapfill-trades-per-second', 0.2, 0.2),
};

const config = loadConfigOrExit('bench', ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES']);
const benchUrl = new URL(config.DATABASE_URL);
benchUrl.pathname = '/tickvault_bench';
const PREFIX = '{tickvault-bench}';

const admin = createDb(config.DATABASE_URL.replace(/\/[^/]*$/, '/postgres'), { max: 1 });
await admin`drop database if exists tickvault_bench with (force)`;
await admin.end();
await migrate(benchUrl.toString());
// No statement timeout: building the retention table is one long COPY.
const sql = createDb(benchUrl.toString(), { max: 2, statementTimeoutMs: 0 });
const redis = createWorkerConnection(config.REDIS_URL, 'tickvault-bench', config.REDIS_CLUSTER_NODES);
const ctx: BenchContext = {
  quick,
  databaseUrl: benchUrl.toString(),
  redisUrl: config.REDIS_URL,
  redisClusterNodes: config.REDIS_CLUSTER_NODES,
  prefix: PREFIX,
  sql,
  redis,
  queue: createTickQueue(redis, PREFIX),
  figures: [],
  shared: {},
};

const [pg] = await sql`select current_setting('server_version') as v`;
const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
log(`tickvault bench${quick ? ' (quick)' : ''}: ${selected.join(', ')}`);
log(`machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GB RAM; PostgreSQL ${pg!.v}, Redis ${redisVersion}; db ${maskUrl(benchUrl.toString())}, prefix ${PREFIX}`);
log(`sizes: ${JSON.stringify(sizes)}`);

const suiteStarted = performance.now();
const timings: Record<string, number> = {};
try {
  await resetState(ctx);
  for (const scenario of SCENARIOS.filter((s) => selected.includes(s))) {
    log('');
    const started = performance.now();
    switch (scenario) {
      case 'throughput':
        await throughput(ctx, { ticks: sizes.ticks, repeats: quick ? 1 : 2, perJob: sizes.perJob, symbols: sizes.symbols });
        break;
      case 'baselines':
        await baselines(ctx, { ticks: sizes.baselineTicks, symbols: sizes.symbols });
        break;
      case 'latency':
        await latency(ctx, { rates: sizes.latencyRates, seconds: sizes.latencySeconds, warmupSeconds: quick ? 1 : 3, symbols: sizes.symbols, perJob: 500, flushMs: 200 });
        break;
      case 'memory':
        await memory(ctx, { backlogs: sizes.backlogs, perJob: sizes.perJob, symbols: sizes.symbols });
        break;
      case 'retention':
        await retention(ctx, { ticks: sizes.retentionTicks, series: 100 });
        break;
      case 'migration':
        await migration(ctx, { ticks: sizes.migrationTicks, series: 100 });
        break;
      case 'startup':
        await startup(ctx, { runs: quick ? 1 : 3 });
        break;
      case 'capacity':
        await capacity(ctx, { ticks: sizes.ticks, perJob: sizes.perJob, symbols: sizes.symbols, ingestRate: 5000, ingestSeconds: quick ? 10 : 30 });
        break;
      case 'gapfill':
        await gapfill(ctx, { days: sizes.gapfillDays, symbols: sizes.gapfillSymbols, tradesPerSecond: sizes.gapfillTradesPerSecond, weightPerMinute: 6000 });
        break;
    }
    timings[scenario] = (performance.now() - started) / 1000;
    log(`  (${scenario} took ${timings[scenario]!.toFixed(0)} s)`);
  }
} finally {
  log('');
  log(`suite took ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s`);
  printTable(ctx.figures);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ at: new Date().toISOString(), quick, sizes, timings, figures: ctx.figures }, null, 2)}\n`);
  await ctx.queue.close();
  redis.disconnect();
  await sql.end();
}

function printTable(figures: readonly Figure[]): void {
  log('');
  log('| scenario | figure | value | unit | note |');
  log('|---|---|---:|---|---|');
  for (const f of figures) {
    const value = typeof f.value === 'number' ? fmtNumber(f.value) : f.value;
    log(`| ${f.scenario} | ${f.metric.trim()} | ${value} | ${f.unit} | ${f.note ?? ''} |`);
  }
}

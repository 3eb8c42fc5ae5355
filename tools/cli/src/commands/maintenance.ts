import { randomUUID } from 'node:crypto';
import { ASSET_CLASSES, isValidSymbol, JOB_NAMES, type AssetClass, type BackfillJob } from '@tickvault/schema';
import { loadConfigOrExit, maskUrl, type EnvName } from '@tickvault/config';
import { listGaps, type GapStatus } from '@tickvault/db';
import { createBackfillQueue, createMaintenanceQueue } from '@tickvault/queue';
import { errorMessage } from '@tickvault/runtime';
import type { Command } from './command.js';
import { parseInstant, parseOptions, UsageError } from '../args.js';
import { formatTable } from '../format.js';
import { connectRedisOnce, createProbeDb } from '../probes.js';

const QUEUE_ENV = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX'] as const satisfies readonly EnvName[];
const GAPS_ENV = ['DATABASE_URL'] as const satisfies readonly EnvName[];

const BACKFILL_USAGE = [
  'usage: tickvault backfill --source S --symbol X --asset-class crypto|stock|macro --from T --to T [--timeframe 1m]',
  '',
  'Enqueues a backfill of one series over [--from, --to) on the backfill queue of its source, the job',
  'gap-fill enqueues: the ingest service running the source fetches the 1-minute bars and the writer',
  'stores them (idempotent: overlapping what is stored does no harm). T is an ISO-8601 instant with a',
  'zone (2026-01-31T12:00:00Z) or a date (2026-01-31, UTC midnight).',
  '',
].join('\n');

/** Enqueues by hand the same job gap-fill enqueues: the ingest service running the source does the work. */
export const backfillCommand: Command = {
  summary: 'enqueue a backfill of one series and range from its provider (the ingest service running the source fetches it)',
  usage: BACKFILL_USAGE,
  env: QUEUE_ENV,
  async run(args) {
    const o = parseOptions(args, {
      source: { type: 'string' }, symbol: { type: 'string' }, 'asset-class': { type: 'string' },
      from: { type: 'string' }, to: { type: 'string' }, timeframe: { type: 'string', default: '1m' },
    }).values;
    if (!o.source || !o.symbol || !o.from || !o.to || !o['asset-class']) throw new UsageError('--source, --symbol, --asset-class, --from and --to are required');
    if (!(ASSET_CLASSES as readonly string[]).includes(o['asset-class'])) throw new UsageError(`--asset-class must be one of ${ASSET_CLASSES.join(', ')}`);
    const assetClass = o['asset-class'] as AssetClass;
    if (!isValidSymbol(assetClass, o.symbol)) throw new UsageError(`--symbol ${o.symbol} is not a ${assetClass} symbol in normalized form`);
    // Providers' bars are one minute; larger candles are built from them.
    if (o.timeframe !== '1m') throw new UsageError('--timeframe: only 1m is fetched (larger candles are built from it)');
    const from = parseInstant(o.from, '--from');
    const to = parseInstant(o.to, '--to');
    if (!(from < to)) throw new UsageError('--from must be before --to');
    const job: BackfillJob = { v: 1, source: o.source, symbol: o.symbol, assetClass, from: from.toISOString(), to: to.toISOString(), gapId: null, reason: 'manual' };
    const config = loadConfigOrExit('backfill', QUEUE_ENV);
    let redis;
    try {
      redis = await connectRedisOnce(config.REDIS_URL, 'tickvault-cli', config.REDIS_CLUSTER_NODES);
      const queue = createBackfillQueue(redis, config.QUEUE_PREFIX, job.source);
      const added = await queue.add(JOB_NAMES.backfill, job, { jobId: `manual-${randomUUID()}` });
      await queue.close();
      process.stdout.write(`enqueued backfill ${added.id} on backfill-${job.source}: ${job.symbol} ${job.from} .. ${job.to}\n`);
      return 0;
    } catch (error) {
      process.stderr.write(`backfill failed against ${maskUrl(config.REDIS_URL)}: ${errorMessage(error)}\n`);
      return 1;
    } finally {
      redis?.disconnect();
    }
  },
};

const GAPS_USAGE = [
  'usage: tickvault gaps [--status open,failed,no_data,filled] [--limit N] [--json]',
  '',
  'Lists the gaps the scheduler detected, most recently detected first, and what became of each: open (a',
  'backfill is pending), filled, no_data (the provider has nothing for the range) or failed.',
  '  --status LIST  which statuses to list (default: all four)',
  '  --limit N      at most N gaps, 1 to 10000 (default 50)',
  '  --json         a JSON array instead of the table',
  '',
].join('\n');

export const gapsCommand: Command = {
  summary: 'list detected gaps and what became of them (open, filled, no_data at the source, failed)',
  usage: GAPS_USAGE,
  env: GAPS_ENV,
  async run(args) {
    const o = parseOptions(args, { status: { type: 'string', default: 'open,failed,no_data,filled' }, limit: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } }).values;
    const statuses = o.status.split(',').map((s) => s.trim()) as GapStatus[];
    for (const s of statuses) if (!['open', 'failed', 'no_data', 'filled'].includes(s)) throw new UsageError(`--status: unknown status ${s}`);
    const limit = Number(o.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be 1..10000');
    const options = { statuses, limit, json: o.json };
    const config = loadConfigOrExit('gaps', GAPS_ENV);
    const sql = createProbeDb(config.DATABASE_URL, 'tickvault-cli');
    try {
      const gaps = await listGaps(sql, { status: options.statuses, limit: options.limit });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(gaps, null, 2)}\n`);
        return 0;
      }
      if (gaps.length === 0) {
        process.stdout.write('no gaps recorded\n');
        return 0;
      }
      process.stdout.write(
        formatTable(
          [{ header: 'id' }, { header: 'series' }, { header: 'from' }, { header: 'to' }, { header: 'missing' }, { header: 'status' }, { header: 'rows' }, { header: 'tries' }, { header: 'detail' }],
          gaps.map((g) => [String(g.id), `${g.source}:${g.symbol}`, g.rangeStart, g.rangeEnd, String(g.missing), g.status, g.rows === null ? '' : String(g.rows), String(g.attempts), (g.detail ?? '').slice(0, 60)]),
          '',
        ) + '\n',
      );
      return 0;
    } catch (error) {
      process.stderr.write(`gaps failed against ${maskUrl(config.DATABASE_URL)}: ${errorMessage(error)}\n`);
      return 1;
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
};

const RUN_NOW_USAGE = [
  'usage: tickvault run-now gap-fill|health',
  '',
  'Queues a one-off run of the weekly gap-fill or the hourly health check on the maintenance queue; the',
  'scheduler service runs it as it would the scheduled one (see `tickvault gaps` and `tickvault report`).',
  '',
].join('\n');

/** Adds a one-off maintenance job; the scheduler service runs it as it would the scheduled one. */
export const runNowCommand: Command = {
  summary: 'run the weekly gap-fill or the hourly health check now (the scheduler service picks it up)',
  usage: RUN_NOW_USAGE,
  env: QUEUE_ENV,
  async run(args) {
    const { positionals } = parseOptions(args, {}, true);
    const which = positionals[0];
    if (positionals.length !== 1 || (which !== JOB_NAMES.gapFill && which !== JOB_NAMES.health)) {
      throw new UsageError(positionals.length === 0 ? 'which job? gap-fill or health' : `run-now takes one of gap-fill, health (got "${positionals.join(' ')}")`);
    }
    const config = loadConfigOrExit('run-now', QUEUE_ENV);
    let redis;
    try {
      redis = await connectRedisOnce(config.REDIS_URL, 'tickvault-cli', config.REDIS_CLUSTER_NODES);
      const queue = createMaintenanceQueue(redis, config.QUEUE_PREFIX);
      const job = await queue.add(which, { requestedBy: 'cli' }, { jobId: `now-${which}-${randomUUID()}` });
      await queue.close();
      process.stdout.write(`queued ${which} run ${job.id}; the scheduler service runs it (see \`tickvault gaps\` and \`tickvault report\`)\n`);
      return 0;
    } catch (error) {
      process.stderr.write(`run-now failed against ${maskUrl(config.REDIS_URL)}: ${errorMessage(error)}\n`);
      return 1;
    } finally {
      redis?.disconnect();
    }
  },
};

import { randomUUID } from 'node:crypto';
import { ASSET_CLASSES, isValidSymbol, JOB_NAMES, type AssetClass, type BackfillJob } from '@tickvault/schema';
import { loadConfigOrExit, maskUrl } from '@tickvault/config';
import { listGaps, type GapStatus } from '@tickvault/db';
import { createBackfillQueue, createMaintenanceQueue } from '@tickvault/queue';
import { errorMessage } from '@tickvault/runtime';
import type { Command } from './command.js';
import { parseInstant, parseOptions, UsageError } from '../args.js';
import { formatTable } from '../format.js';
import { connectRedisOnce, createProbeDb } from '../probes.js';

function usageError(error: unknown, usage: string): number {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${error.message}\n${usage}`);
  return 2;
}

const BACKFILL_USAGE =
  'usage: npm run tickvault -- backfill --source S --symbol X --asset-class crypto|stock|macro --from T --to T [--timeframe 1m]\n';

/** Enqueues by hand the same job gap-fill enqueues: the ingest service running the source does the work. */
export const backfillCommand: Command = {
  summary: 'enqueue a backfill of one series and range from its provider (the ingest service running the source fetches it)',
  async run(args) {
    let job: BackfillJob;
    try {
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
      job = { v: 1, source: o.source, symbol: o.symbol, assetClass, from: from.toISOString(), to: to.toISOString(), gapId: null, reason: 'manual' };
    } catch (error) {
      return usageError(error, BACKFILL_USAGE);
    }
    const config = loadConfigOrExit('backfill', ['REDIS_URL', 'QUEUE_PREFIX']);
    let redis;
    try {
      redis = await connectRedisOnce(config.REDIS_URL, 'tickvault-cli');
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

const GAPS_USAGE = 'usage: npm run tickvault -- gaps [--status open,failed,no_data,filled] [--limit N] [--json]\n';

export const gapsCommand: Command = {
  summary: 'list detected gaps and what became of them (open, filled, no_data at the source, failed)',
  async run(args) {
    let options: { statuses: GapStatus[]; limit: number; json: boolean };
    try {
      const o = parseOptions(args, { status: { type: 'string', default: 'open,failed,no_data,filled' }, limit: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } }).values;
      const statuses = o.status.split(',').map((s) => s.trim()) as GapStatus[];
      for (const s of statuses) if (!['open', 'failed', 'no_data', 'filled'].includes(s)) throw new UsageError(`--status: unknown status ${s}`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be 1..10000');
      options = { statuses, limit, json: o.json };
    } catch (error) {
      return usageError(error, GAPS_USAGE);
    }
    const config = loadConfigOrExit('gaps', ['DATABASE_URL']);
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

const RUN_NOW_USAGE = 'usage: npm run tickvault -- run-now gap-fill|health\n';

/** Adds a one-off maintenance job; the scheduler service runs it as it would the scheduled one. */
export const runNowCommand: Command = {
  summary: 'run the weekly gap-fill or the hourly health check now (the scheduler service picks it up)',
  async run(args) {
    const which = args[0];
    if (args.length !== 1 || (which !== JOB_NAMES.gapFill && which !== JOB_NAMES.health)) {
      process.stderr.write(RUN_NOW_USAGE);
      return 2;
    }
    const config = loadConfigOrExit('run-now', ['REDIS_URL', 'QUEUE_PREFIX']);
    let redis;
    try {
      redis = await connectRedisOnce(config.REDIS_URL, 'tickvault-cli');
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

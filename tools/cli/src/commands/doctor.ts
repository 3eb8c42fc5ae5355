import { randomUUID } from 'node:crypto';
import { ConfigError, describeProblem, loadConfig, maskUrl, type EnvName } from '@tickvault/config';
import { currentSchemaVersion, EXPECTED_SCHEMA_VERSION, SchemaMismatchError, type Sql } from '@tickvault/db';
import { describeRedisMemory, readRedisMemory, readServices, redisEvictionPolicy, redisMasters, redisMemoryLevel, redisMemoryWarning, redisPing, type ClusterNode, type RedisClient } from '@tickvault/queue';
import type { Command } from './command.js';
import { parseOptions } from '../args.js';
import { connectRedisOnce, createProbeDb, isMissingDatabase, safeErrorMessage } from '../probes.js';
import { describeRuns, serviceWarnings } from '../services-summary.js';

type Status = 'ok' | 'warn' | 'FAIL' | 'skip';

const USAGE = [
  'usage: tickvault doctor [--json]',
  '',
  'Checks, one line each: the configuration parses; Redis is reachable, evicts nothing (noeviction), keeps',
  'an append-only file and has memory left under maxmemory; the services registered in Redis (which run, where,',
  'each source connected or not: a warning, never a failure); Postgres is reachable, its schema is current',
  'and a write can be read back (in a transaction rolled back). A check that cannot run says why (skip).',
  '  --json  one JSON document: {"ok": …, "checks": [{"name", "status": ok|warn|fail|skip, "detail"}]}',
  'Exit 0 when no check failed (warnings included), 1 when one did.',
  '',
].join('\n');

/** A check's result, as --json prints it. */
export interface DoctorCheck {
  name: CheckName;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
}

const DOCTOR_ENV = [
  'DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX',
  'CRYPTO_SOURCES', 'CRYPTO_SYMBOLS', 'STOCK_SOURCES', 'STOCK_SYMBOLS', 'MACRO_SOURCES', 'MACRO_SERIES',
] as const satisfies readonly EnvName[];

const CHECK_NAMES = [
  'Config valid', 'Redis reachable', 'Redis noeviction', 'Redis AOF', 'Redis memory', 'Services', 'Postgres reachable', 'Schema current', 'Postgres write/read',
] as const;
type CheckName = (typeof CHECK_NAMES)[number];
const NAME_WIDTH = Math.max(...CHECK_NAMES.map((n) => n.length)) + 2;

function print(status: Status, name: CheckName, detail: string): void {
  process.stdout.write(`${status.padEnd(4)}  ${name.padEnd(NAME_WIDTH)} ${detail}\n`);
}

/** Parses only the named variables, so one bad variable does not hide the checks that do not need it. */
function tryLoad<K extends EnvName>(names: readonly K[]) {
  try {
    return loadConfig('doctor', names);
  } catch (error) {
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

/** "CONFIG" is often disabled or renamed on managed Redis; that is worth saying plainly, not as a raw error. */
function isConfigCommandUnavailable(error: unknown): boolean {
  return /unknown command|NOPERM|no permissions/i.test(String((error as Error)?.message ?? error));
}

/** The setting as every master has it: on a cluster the first master that differs from `wanted`, else `wanted`. */
async function redisConfigValue(redis: RedisClient, key: string, wanted: string): Promise<string> {
  const values = await Promise.all(redisMasters(redis).map(async (node) => ((await node.config('GET', key)) as string[])[1] ?? 'unknown'));
  return values.find((v) => v !== wanted) ?? values[0] ?? 'unknown';
}

class Rollback extends Error {}

/** Writes an event row and reads it back inside a transaction that is always rolled back: proves writes work, leaves nothing behind. */
async function writeReadRoundTrip(sql: Sql): Promise<void> {
  const marker = randomUUID();
  try {
    await sql.begin(async (tx) => {
      const [written] = await tx<{ id: string }[]>`
        insert into system_events (service, kind, symbol, details)
        values ('doctor', 'doctor_probe', null, ${tx.json({ marker })})
        returning id`;
      const [read] = await tx<{ marker: string | null }[]>`select details->>'marker' as marker from system_events where id = ${written!.id}`;
      if (read?.marker !== marker) throw new Error('the row written could not be read back');
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
}

export const doctorCommand: Command = {
  summary: 'check configuration, Redis and Postgres; one line per check (--json), exit 1 if any fails',
  usage: USAGE,
  env: DOCTOR_ENV,
  async run(args) {
    const { json } = parseOptions(args, { json: { type: 'boolean', default: false } }).values;
    let failed = false;
    const checks: DoctorCheck[] = [];
    const report = (status: Status, name: CheckName, detail: string) => {
      if (status === 'FAIL') failed = true;
      // Text goes out as each check finishes (a slow one shows where it waits); JSON all at once.
      if (json) checks.push({ name, status: status === 'FAIL' ? 'fail' : status, detail });
      else print(status, name, detail);
    };

    try {
      loadConfig('doctor', DOCTOR_ENV);
      report('ok', 'Config valid', `${DOCTOR_ENV.length} variables parsed`);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      report('FAIL', 'Config valid', error.problems.map(describeProblem).join('; '));
    }

    const redisConfig = tryLoad(['REDIS_URL', 'REDIS_CLUSTER_NODES']);
    if (!redisConfig) {
      for (const name of ['Redis reachable', 'Redis noeviction', 'Redis AOF', 'Redis memory', 'Services'] as const) report('skip', name, 'REDIS_URL or REDIS_CLUSTER_NODES is invalid');
    } else {
      await checkRedis(redisConfig.REDIS_URL, redisConfig.REDIS_CLUSTER_NODES, report, tryLoad(['QUEUE_PREFIX'])?.QUEUE_PREFIX);
    }

    const dbConfig = tryLoad(['DATABASE_URL']);
    if (!dbConfig) {
      for (const name of ['Postgres reachable', 'Schema current', 'Postgres write/read'] as const) report('skip', name, 'DATABASE_URL is invalid');
    } else {
      await checkPostgres(dbConfig.DATABASE_URL, report);
    }
    if (json) process.stdout.write(`${JSON.stringify({ ok: !failed, checks }, null, 2)}\n`);
    return failed ? 1 : 0;
  },
};

type Report = (status: Status, name: CheckName, detail: string) => void;

async function checkRedis(url: string, clusterNodes: readonly ClusterNode[] | undefined, report: Report, prefix: string | undefined): Promise<void> {
  const shownUrl = clusterNodes?.length ? `cluster ${clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}` : maskUrl(url);
  let redis: RedisClient;
  try {
    redis = await connectRedisOnce(url, 'tickvault-doctor', clusterNodes);
    await redisPing(redis);
  } catch (error) {
    report('FAIL', 'Redis reachable', `${safeErrorMessage(error)} (${shownUrl})`);
    report('skip', 'Redis noeviction', 'Redis unreachable');
    report('skip', 'Redis AOF', 'Redis unreachable');
    report('skip', 'Redis memory', 'Redis unreachable');
    report('skip', 'Services', 'Redis unreachable');
    return;
  }
  try {
    const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
    report('ok', 'Redis reachable', `${shownUrl}${version ? ` (Redis ${version})` : ''}`);

    try {
      const policy = await redisEvictionPolicy(redis);
      if (policy === 'noeviction') report('ok', 'Redis noeviction', 'maxmemory-policy is noeviction');
      else report('FAIL', 'Redis noeviction', `maxmemory-policy is ${policy}: Redis may evict queued jobs and lose ticks; set maxmemory-policy noeviction`);
    } catch (error) {
      if (!isConfigCommandUnavailable(error)) throw error;
      report('warn', 'Redis noeviction', 'cannot read maxmemory-policy: CONFIG is disabled on this server; make sure it is noeviction');
    }

    try {
      const aof = await redisConfigValue(redis, 'appendonly', 'yes');
      if (aof === 'yes') report('ok', 'Redis AOF', 'appendonly is yes');
      else report('warn', 'Redis AOF', `appendonly is ${aof}: a Redis restart loses queued jobs written since the last snapshot (fine for local dev, not for production)`);
    } catch (error) {
      if (!isConfigCommandUnavailable(error)) throw error;
      report('warn', 'Redis AOF', 'cannot read appendonly: CONFIG is disabled on this server; make sure AOF is on');
    }

    // INFO, not CONFIG: readable on managed Redis too. Full means new jobs are refused now.
    const memory = await readRedisMemory(redis);
    const level = redisMemoryLevel(memory);
    report(level === 'ok' ? 'ok' : level === 'full' ? 'FAIL' : 'warn', 'Redis memory', redisMemoryWarning(memory, level) ?? describeRedisMemory(memory));

    if (prefix === undefined) report('skip', 'Services', 'QUEUE_PREFIX is invalid');
    else await checkServices(redis, prefix, report);
  } catch (error) {
    // The connection dropped between checks: say so on the check that met it, not as a crash.
    report('FAIL', 'Redis reachable', `lost the connection during checks: ${safeErrorMessage(error)} (${shownUrl})`);
  } finally {
    redis.disconnect();
  }
}

/**
 * Which services run against this Redis and prefix (the service registry). Nothing running is no
 * failure (doctor is also run before a first start); a source out of reach, ingest without a writer,
 * mixed versions are warnings.
 */
async function checkServices(redis: RedisClient, prefix: string, report: Report): Promise<void> {
  const { services, unreadable } = await readServices(redis, prefix);
  const now = Date.now();
  const warnings = serviceWarnings(services, unreadable, now);
  if (warnings.length > 0) {
    report('warn', 'Services', warnings.join('; '));
    return;
  }
  if (services.length === 0) {
    report('ok', 'Services', `none registered under ${prefix}: nothing runs against this Redis yet`);
    return;
  }
  report('ok', 'Services', `${services.length} running: ${services.map((s) => `${s.service}@${s.host} (${describeRuns(s, now)})`).join('; ')}`);
}

async function checkPostgres(url: string, report: Report): Promise<void> {
  const shownUrl = maskUrl(url);
  const sql = createProbeDb(url, 'tickvault-doctor');
  try {
    try {
      const [row] = await sql<{ version: string }[]>`select 1 as one, current_setting('server_version') as version`;
      report('ok', 'Postgres reachable', `${shownUrl} (PostgreSQL ${row!.version})`);
    } catch (error) {
      const missing = isMissingDatabase(error);
      const hint = missing ? ': run `npm run tickvault -- migrate`, which creates it' : '';
      report('FAIL', 'Postgres reachable', `${safeErrorMessage(error)}${hint} (${shownUrl})`);
      const why = missing ? 'database does not exist' : 'Postgres unreachable';
      report('skip', 'Schema current', why);
      report('skip', 'Postgres write/read', why);
      return;
    }

    let schemaCurrent = false;
    try {
      const version = await currentSchemaVersion(sql);
      schemaCurrent = version === EXPECTED_SCHEMA_VERSION;
      if (schemaCurrent) report('ok', 'Schema current', `version ${version}`);
      else report('FAIL', 'Schema current', new SchemaMismatchError(version, EXPECTED_SCHEMA_VERSION).message);
    } catch (error) {
      report('FAIL', 'Schema current', safeErrorMessage(error));
    }

    if (!schemaCurrent) {
      report('skip', 'Postgres write/read', 'schema not current');
      return;
    }
    try {
      await writeReadRoundTrip(sql);
      report('ok', 'Postgres write/read', 'wrote and read back a system_events row (rolled back)');
    } catch (error) {
      report('FAIL', 'Postgres write/read', safeErrorMessage(error));
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
}

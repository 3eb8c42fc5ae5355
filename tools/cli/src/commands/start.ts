import { loadConfig, loadConfigOrExit, maskUrl } from '@tickvault/config';
import { isConnectionError, migrate } from '@tickvault/db';
import { redisPing, type ClusterNode } from '@tickvault/queue';
import type { Command } from './command.js';
import { expectNoArguments } from '../args.js';
import { connectRedisOnce, createProbeDb, errorCodeOrMessage, isMissingDatabase, safeErrorMessage } from '../probes.js';
import { supervise } from '../supervise.js';
import { configProblems, livezAnswers, planPorts } from './start-plan.js';
import { REPO_ROOT, SERVICES, serviceEntry, type ServiceName } from './services.js';

const START_HINT = 'Start it (e.g. `docker compose up -d postgres redis`, or your system service)';

/** One line saying what is wrong and what to do, or null when Postgres answers (a missing database is fine: migrate creates it). */
export async function postgresProblem(url: string): Promise<string | null> {
  const sql = createProbeDb(url, 'tickvault-start');
  try {
    await sql`select 1`;
    return null;
  } catch (error) {
    if (isMissingDatabase(error)) return null;
    if (isConnectionError(error)) return `Postgres is not reachable at ${maskUrl(url)} (${errorCodeOrMessage(error)}). ${START_HINT} or set DATABASE_URL.`;
    return `Postgres at ${maskUrl(url)} refused the connection: ${safeErrorMessage(error)}. Check DATABASE_URL.`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export async function redisProblem(url: string, clusterNodes?: readonly ClusterNode[]): Promise<string | null> {
  try {
    const redis = await connectRedisOnce(url, 'tickvault-start', clusterNodes?.length ? clusterNodes : undefined);
    try {
      await redisPing(redis);
      return null;
    } finally {
      redis.disconnect();
    }
  } catch (error) {
    // On a cluster REDIS_URL gives only the credentials, so the nodes are what is named.
    if (clusterNodes?.length) {
      const nodes = clusterNodes.map((n) => `${n.host}:${n.port}`).join(',');
      return `Redis Cluster at ${nodes} is not reachable or refused the connection (${errorCodeOrMessage(error)}). Check REDIS_CLUSTER_NODES, and the password in REDIS_URL or REDIS_PASSWORD_FILE.`;
    }
    if (/NOAUTH|WRONGPASS|NOPERM/.test(String((error as Error)?.message))) {
      return `Redis at ${maskUrl(url)} refused the connection: ${safeErrorMessage(error)}. Check REDIS_URL.`;
    }
    return `Redis is not reachable at ${maskUrl(url)} (${errorCodeOrMessage(error)}). ${START_HINT} or set REDIS_URL.`;
  }
}

/**
 * The dashboard refuses to run without credentials, and one service exiting stops them all: locally
 * it is left out with a hint instead. Basic auth always has one: without DASHBOARD_PASSWORD the
 * dashboard generates a password in DASHBOARD_PASSWORD_FILE and logs it once. A bad value is not
 * judged here: the dashboard names it itself.
 */
export function dashboardSkipReason(): string | null {
  let auth;
  try {
    auth = loadConfig('start', ['DASHBOARD_AUTH', 'DASHBOARD_TOKEN']);
  } catch {
    return null;
  }
  if (auth.DASHBOARD_AUTH === 'bearer' && !auth.DASHBOARD_TOKEN) return 'set DASHBOARD_TOKEN to run it';
  return null;
}

const START_USAGE = [
  'usage: tickvault start',
  '',
  'What `npm start` runs: checks every service\'s configuration (all problems at once), that Postgres and',
  'Redis answer, applies pending migrations, then runs every service in this terminal with its name before',
  'each log line. Ctrl-C drains and stops them all; one service exiting stops the rest, each once it has',
  'checked its own configuration, so every problem shows. A default port in use (health 9101-9106,',
  'dashboard 3000) is replaced by a free one, named in one line; HEALTH_PORT can only be 0 here.',
  '',
].join('\n');

export const startCommand: Command = {
  summary: 'run the whole pipeline locally: check Postgres and Redis, migrate, then every service (Ctrl-C stops all)',
  usage: START_USAGE,
  env: ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'LOG_FORMAT', 'DASHBOARD_AUTH', 'DASHBOARD_TOKEN', 'HEALTH_HOST', 'HEALTH_PORT', 'DASHBOARD_HOST', 'DASHBOARD_PORT'],
  async run(args) {
    expectNoArguments(args);
    const skipDashboard = dashboardSkipReason();
    const names = (Object.keys(SERVICES) as ServiceName[]).filter((name) => !(name === 'dashboard' && skipDashboard));
    // Every service's configuration before anything is touched, so all problems show at once.
    const invalid = configProblems(names, process.env);
    if (invalid.length > 0) {
      process.stderr.write(`Invalid configuration: ${invalid.length} problem${invalid.length === 1 ? '' : 's'}; nothing was started\n${invalid.map((line) => `  - ${line}\n`).join('')}`);
      return 1;
    }
    const config = loadConfigOrExit('start', ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'LOG_FORMAT']);

    const problems = (await Promise.all([postgresProblem(config.DATABASE_URL), redisProblem(config.REDIS_URL, config.REDIS_CLUSTER_NODES)])).filter((p) => p !== null);
    if (problems.length > 0) {
      for (const problem of problems) process.stderr.write(`${problem}\n`);
      return 1;
    }

    try {
      const result = await migrate(config.DATABASE_URL);
      if (result.createdDatabase) process.stdout.write(`created database ${maskUrl(config.DATABASE_URL)}\n`);
      for (const step of result.applied) process.stdout.write(`applied migration ${step}\n`);
      process.stdout.write(`schema at version ${result.to}\n`);
    } catch (error) {
      process.stderr.write(`migrate failed against ${maskUrl(config.DATABASE_URL)}: ${safeErrorMessage(error)}\n`);
      return 1;
    }

    // With LOG_FORMAT=auto a service logs pretty only on a terminal; its output now goes through a pipe
    // to ours, so when ours is a terminal the children are told to log as if theirs were.
    const env = config.LOG_FORMAT === 'auto' && process.stdout.isTTY ? { ...process.env, LOG_FORMAT: 'pretty' } : process.env;
    if (skipDashboard) process.stdout.write(`not starting the dashboard: ${skipDashboard}\n`);
    const defaults = Object.fromEntries(names.map((name) => [name, SERVICES[name].healthPort])) as Record<ServiceName, number>;
    const ports = await planPorts(names, process.env, defaults);
    if (ports.problems.length > 0) {
      for (const problem of ports.problems) process.stderr.write(`${problem}\n`);
      return 1;
    }
    for (const line of ports.notes) process.stdout.write(`${line}\n`);
    process.stdout.write(`starting ${names.join(', ')}; Ctrl-C stops them all\n`);
    const healthHost = process.env.HEALTH_HOST?.trim() || '0.0.0.0';
    return supervise(
      names.map((name) => ({
        name,
        entry: serviceEntry(name),
        env: ports.env[name] ?? {},
        checked: livezAnswers(healthHost, ports.healthPorts[name]!),
      })),
      { cwd: REPO_ROOT, env },
    );
  },
};

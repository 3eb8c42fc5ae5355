import { fileURLToPath } from 'node:url';
import { migrate } from '@tickvault/db';
import { demoFeedEnv, loadConfigOrExit, maskUrl } from '@tickvault/config';
import type { Command } from './command.js';
import { expectNoArguments } from '../args.js';
import { safeErrorMessage } from '../probes.js';
import { supervise } from '../supervise.js';
import { REPO_ROOT, SERVICES, serviceEntry, type ServiceName } from './services.js';
import { dashboardSkipReason, postgresProblem, redisProblem } from './start.js';

const FAKE_FEEDS_ENTRY = fileURLToPath(new URL('../../../fake-feeds/src/main.ts', import.meta.url));

/** The demo never touches the live database or queues: its own database (`<name>_demo`) and queue prefix. */
export function demoDatabaseUrl(url: string): string {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'tickvault';
  parsed.pathname = `/${name.endsWith('_demo') ? name : `${name}_demo`}`;
  return parsed.toString();
}
export const DEMO_QUEUE_PREFIX = '{tickvault-demo}';

const DEMO_USAGE = [
  'usage: tickvault demo',
  '',
  'What `npm run demo` runs: fake Binance, Coinbase, Alpaca, Yahoo and FRED servers on 127.0.0.1, then',
  "every service pointed at them, in DATABASE_URL's server but its own database (<name>_demo) and queue",
  "prefix, labelled demo. Needs no internet and touches no live data. Ctrl-C stops everything.",
  '',
].join('\n');

export const demoCommand: Command = {
  summary: 'run the whole stack against the fake feed servers (every provider, offline), in its own demo database',
  usage: DEMO_USAGE,
  env: ['DATABASE_URL', 'REDIS_URL', 'LOG_FORMAT', 'DASHBOARD_AUTH', 'DASHBOARD_TOKEN'],
  async run(args) {
    expectNoArguments(args);
    const config = loadConfigOrExit('demo', ['DATABASE_URL', 'REDIS_URL', 'LOG_FORMAT']);
    const databaseUrl = demoDatabaseUrl(config.DATABASE_URL);
    const problems = (await Promise.all([postgresProblem(databaseUrl), redisProblem(config.REDIS_URL)])).filter((p) => p !== null);
    if (problems.length > 0) {
      for (const problem of problems) process.stderr.write(`${problem}\n`);
      return 1;
    }
    try {
      const result = await migrate(databaseUrl);
      process.stdout.write(`demo database ${maskUrl(databaseUrl)} at schema version ${result.to}\n`);
    } catch (error) {
      process.stderr.write(`migrate failed against ${maskUrl(databaseUrl)}: ${safeErrorMessage(error)}\n`);
      return 1;
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...demoFeedEnv('127.0.0.1'),
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: DEMO_QUEUE_PREFIX,
      ...(config.LOG_FORMAT === 'auto' && process.stdout.isTTY ? { LOG_FORMAT: 'pretty' } : {}),
    };
    const skipDashboard = dashboardSkipReason();
    if (skipDashboard) process.stdout.write(`not starting the dashboard: ${skipDashboard}\n`);
    const names = (Object.keys(SERVICES) as ServiceName[]).filter((name) => !(name === 'dashboard' && skipDashboard));
    process.stdout.write(
      `demo: fake Binance, Coinbase, Alpaca, Yahoo and FRED on 127.0.0.1:18443-18447, then ${names.join(', ')}. ` +
        'Data is labelled demo (DATA_ENVIRONMENT=demo) and kept apart from live data. Try `npm run tickvault -- report` ' +
        `with DATABASE_URL=${maskUrl(databaseUrl)} QUEUE_PREFIX='${DEMO_QUEUE_PREFIX}'. Ctrl-C stops everything.\n`,
    );
    return supervise(
      [{ name: 'fake-feeds', entry: FAKE_FEEDS_ENTRY }, ...names.map((name) => ({ name, entry: serviceEntry(name) }))],
      { cwd: REPO_ROOT, env },
    );
  },
};

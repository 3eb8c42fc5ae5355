import net from 'node:net';
import { migrate } from '@tickvault/db';
import { DEMO_FEED_PORTS, demoFeedEnv, loadConfigOrExit, maskUrl, parseConnectionUrl, withDatabase } from '@tickvault/config';
import type { Command } from './command.js';
import { expectNoArguments } from '../args.js';
import { safeErrorMessage } from '../probes.js';
import { supervise, type SupervisedProcess } from '../supervise.js';
import { processEntry, REPO_ROOT, SERVICES, serviceEntry, type ServiceName } from './services.js';
import { dashboardSkipReason, postgresProblem, redisProblem } from './start.js';
import { configProblems, livezAnswers, planPorts, portIsFree } from './start-plan.js';

const FAKE_FEEDS_ENTRY = processEntry('fake-feeds', 'tools/fake-feeds/src/main.ts');

/** The demo never touches the live database or queues: its own database (`<name>_demo`) and queue prefix. */
export function demoDatabaseUrl(url: string): string {
  const name = parseConnectionUrl(url)?.database || 'tickvault';
  return withDatabase(url, name.endsWith('_demo') ? name : `${name}_demo`);
}

/** The demo's queues: QUEUE_PREFIX with `-demo` (`{tickvault}` gives `{tickvault-demo}`). */
export function demoQueuePrefix(prefix: string): string {
  const inner = prefix.replace(/^\{|\}$/g, '');
  return `{${inner.endsWith('-demo') ? inner : `${inner}-demo`}}`;
}

// The fake servers listen on these; the ingest services start once all of them answer.
const FEED_HOST = '127.0.0.1';

/** Whether something accepts TCP connections on `port` now. */
function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1_000);
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** Whether a service's /readyz says 200: its dependencies answer and it is taking work. */
function readyzAnswers(host: string, port: number): () => Promise<boolean> {
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return () =>
    fetch(`http://${reachable}:${port}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.ok,
      () => false,
    );
}

const DEMO_USAGE = [
  'usage: tickvault demo',
  '',
  'What `npm run demo` runs: fake Binance, Coinbase, Alpaca, Yahoo and FRED servers on 127.0.0.1:18443-18447,',
  'then, once they listen, the writer, and once it is ready every other service, all pointed at the fakes, in',
  "DATABASE_URL's server but its own database (<name>_demo) and queue prefix (QUEUE_PREFIX with -demo),",
  'labelled demo. Needs no internet and touches no live data. Ctrl-C stops everything in reverse order.',
  '',
].join('\n');

export const demoCommand: Command = {
  summary: 'run the whole stack against the fake feed servers (every provider, offline), in its own demo database',
  usage: DEMO_USAGE,
  env: ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX', 'LOG_FORMAT', 'DASHBOARD_AUTH', 'DASHBOARD_TOKEN', 'HEALTH_HOST', 'HEALTH_PORT', 'DASHBOARD_HOST', 'DASHBOARD_PORT'],
  async run(args) {
    expectNoArguments(args);
    const config = loadConfigOrExit('demo', ['DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX', 'LOG_FORMAT']);
    const databaseUrl = demoDatabaseUrl(config.DATABASE_URL);
    const queuePrefix = demoQueuePrefix(config.QUEUE_PREFIX);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...demoFeedEnv(FEED_HOST),
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: queuePrefix,
      ...(config.LOG_FORMAT === 'auto' && process.stdout.isTTY ? { LOG_FORMAT: 'pretty' } : {}),
    };
    const skipDashboard = dashboardSkipReason();
    const names = (Object.keys(SERVICES) as ServiceName[]).filter((name) => !(name === 'dashboard' && skipDashboard));
    const invalid = configProblems(names, env);
    if (invalid.length > 0) {
      process.stderr.write(`Invalid configuration: ${invalid.length} problem${invalid.length === 1 ? '' : 's'}; nothing was started\n${invalid.map((line) => `  - ${line}\n`).join('')}`);
      return 1;
    }
    const busyFeeds = [];
    for (const port of Object.values(DEMO_FEED_PORTS)) if (!(await portIsFree(FEED_HOST, port))) busyFeeds.push(port);
    const problems = [
      ...(await Promise.all([postgresProblem(databaseUrl), redisProblem(config.REDIS_URL, config.REDIS_CLUSTER_NODES)])),
      busyFeeds.length > 0 ? `The fake feeds' ports ${busyFeeds.join(', ')} on ${FEED_HOST} are in use: is another \`npm run demo\` (or the compose demo) running?` : null,
    ].filter((p) => p !== null);
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
    if (skipDashboard) process.stdout.write(`not starting the dashboard: ${skipDashboard}\n`);
    const defaults = Object.fromEntries(names.map((name) => [name, SERVICES[name].healthPort])) as Record<ServiceName, number>;
    const ports = await planPorts(names, env, defaults);
    if (ports.problems.length > 0) {
      for (const problem of ports.problems) process.stderr.write(`${problem}\n`);
      return 1;
    }
    for (const line of ports.notes) process.stdout.write(`${line}\n`);
    const others = names.filter((name) => name !== 'writer');
    process.stdout.write(
      `demo: fake Binance, Coinbase, Alpaca, Yahoo and FRED on ${FEED_HOST}:18443-18447, then writer, then ${others.join(', ')}, ` +
        'each once what it needs is ready. Data is labelled demo (DATA_ENVIRONMENT=demo) and kept apart from live data. ' +
        `Try \`npm run tickvault -- report\` with DATABASE_URL=${maskUrl(databaseUrl)} QUEUE_PREFIX='${queuePrefix}'. Ctrl-C stops everything.\n`,
    );
    const healthHost = env.HEALTH_HOST?.trim() || '0.0.0.0';
    const service = (name: ServiceName): SupervisedProcess => ({
      name,
      entry: serviceEntry(name),
      env: ports.env[name] ?? {},
      checked: livezAnswers(healthHost, ports.healthPorts[name]!),
    });
    // Dependency order: the fakes listening, then the writer taking work, then what produces for it
    // (the ingest services would otherwise log refused connections until the fakes listen). Down in reverse.
    const feedsListen = async () => (await Promise.all(Object.values(DEMO_FEED_PORTS).map((port) => tcpAnswers(FEED_HOST, port)))).every(Boolean);
    return supervise(
      [
        { name: 'fake-feeds', entry: FAKE_FEEDS_ENTRY, ready: feedsListen },
        { ...service('writer'), ready: readyzAnswers(healthHost, ports.healthPorts.writer!) },
        ...others.map(service),
      ],
      { cwd: REPO_ROOT, env },
    );
  },
};

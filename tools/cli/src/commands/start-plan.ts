import net from 'node:net';
import { ConfigError, describeProblem, loadConfig } from '@tickvault/config';
import { SERVICES, type ServiceName } from './services.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Every service's configuration, checked here before any of them starts: a service that exits on bad
 * configuration would otherwise stop the others before they could report theirs. A problem shared by
 * several services (REDIS_URL) is listed once, with the services it stops. Empty when all is well.
 */
export function configProblems(names: readonly ServiceName[], env: Env): string[] {
  const byProblem = new Map<string, ServiceName[]>();
  for (const name of names) {
    try {
      loadConfig(name, SERVICES[name].env, env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const problem of error.problems) {
        const line = describeProblem(problem);
        byProblem.set(line, [...(byProblem.get(line) ?? []), name]);
      }
    }
  }
  return [...byProblem].map(([line, services]) => `${line} [${services.length === names.length && names.length > 1 ? 'every service' : services.join(', ')}]`);
}

export interface PortPlan {
  /** Variables to give each service on top of the shared environment. */
  env: Partial<Record<ServiceName, Record<string, string>>>;
  /** Where each service's /livez answers, for the supervisor. */
  healthPorts: Partial<Record<ServiceName, number>>;
  /** One line each: a port that was taken and what was used instead. */
  notes: string[];
  /** One line each: a port the user chose that cannot be used; nothing should start. */
  problems: string[];
}

/** Whether `port` can be bound on `host` right now; anything but "in use" counts as free (the service reports it itself). */
export type PortCheck = (host: string, port: number) => Promise<boolean>;

/**
 * The ports `npm start` gives its services. Each health server gets its default port (9101–9106) when
 * it is free and another free one when it is taken, so one busy port (another stack, a stale process)
 * does not stop the whole local stack; the dashboard likewise when DASHBOARD_PORT is unset. A port the
 * user chose is used as given, or refused in one line naming the variable when it is taken. HEALTH_PORT
 * cannot be one value for six services: set, it is refused unless it is 0 (any free ports).
 */
export async function planPorts(names: readonly ServiceName[], env: Env, defaults: Record<ServiceName, number>, isFree: PortCheck = portIsFree): Promise<PortPlan> {
  const plan: PortPlan = { env: {}, healthPorts: {}, notes: [], problems: [] };
  const healthHost = env.HEALTH_HOST?.trim() || '0.0.0.0';
  const healthPort = env.HEALTH_PORT?.trim();
  if (healthPort && healthPort !== '0') {
    plan.problems.push(
      `HEALTH_PORT=${healthPort} would give every service the same port: unset it (each takes its own, ${Math.min(...Object.values(defaults))}-${Math.max(...Object.values(defaults))}, or a free one) or set it to 0`,
    );
    return plan;
  }
  const taken = new Set<number>();
  for (const name of names) {
    let port = defaults[name];
    if (healthPort === '0') {
      port = await freePort(healthHost, taken);
    } else if (!(await isFree(healthHost, port))) {
      const busy = port;
      port = await freePort(healthHost, taken);
      plan.notes.push(`${name}: health port ${busy} is in use; using ${port} for its /livez, /readyz and /metrics`);
    }
    taken.add(port);
    plan.healthPorts[name] = port;
    plan.env[name] = { HEALTH_PORT: String(port) };
  }

  if (names.includes('dashboard')) {
    const dashboardHost = env.DASHBOARD_HOST?.trim() || '0.0.0.0';
    const given = env.DASHBOARD_PORT?.trim();
    const port = given ? Number(given) : DEFAULT_DASHBOARD_PORT;
    if (port !== 0 && !(await isFree(dashboardHost, port))) {
      if (given) {
        plan.problems.push(`DASHBOARD_PORT=${port}: port ${port} on ${dashboardHost} is already in use; set DASHBOARD_PORT to a free port (0 picks one)`);
      } else {
        const instead = await freePort(dashboardHost, taken);
        plan.notes.push(`dashboard: port ${port} is in use; serving on ${instead} instead (set DASHBOARD_PORT to choose)`);
        plan.env.dashboard = { ...plan.env.dashboard, DASHBOARD_PORT: String(instead) };
      }
    }
  }
  return plan;
}

// The ENV registry's default for DASHBOARD_PORT.
const DEFAULT_DASHBOARD_PORT = 3000;

export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'EADDRINUSE'));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free now, not one already handed out (the OS may offer a just-released port again). */
async function freePort(host: string, taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, host, () => {
        const { port: bound } = server.address() as net.AddressInfo;
        server.close(() => resolve(bound));
      });
    });
    if (!taken.has(port)) return port;
  }
}

/** Whether a service's health server answers: it binds only once its configuration has passed every check. */
export function livezAnswers(host: string, port: number): () => Promise<boolean> {
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return () =>
    fetch(`http://${reachable}:${port}/livez`, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.ok,
      () => false,
    );
}

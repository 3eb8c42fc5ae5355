import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  check: () => boolean | Promise<boolean>;
}

export interface HealthServer {
  port: number;
  /** Until this is called `/readyz` answers 503 "starting": the server is up before the service is. */
  setChecks(checks: ReadinessCheck[]): void;
  setBeforeScrape(refresh: () => Promise<void> | void): void;
  /**
   * Problems worth naming in the `/readyz` body that do not make this process unready (the writer: tick
   * shards no live writer consumes). Shown under `notes` only when it returns something.
   */
  setNotes(notes: () => Record<string, unknown> | undefined): void;
  setDraining(): void;
  close(): Promise<void>;
}

/**
 * A port that cannot be bound, explained in one line naming the variable that sets it. Services
 * log it as their one `cannot start` line and exit 1 instead of dying with a stack trace.
 */
export class ListenError extends Error {
  constructor(
    readonly variable: string,
    readonly hostVariable: string,
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
  ) {
    super(listenProblem(variable, hostVariable, host, port, code));
    this.name = 'ListenError';
  }
}

function listenProblem(variable: string, hostVariable: string, host: string, port: number, code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return `${variable}=${port}: port ${port} on ${host} is already in use (EADDRINUSE); set ${variable} to a free port (0 picks one)`;
    case 'EACCES':
      return `${variable}=${port}: port ${port} on ${host} needs privileges this process lacks (EACCES); set ${variable} to a port above 1023`;
    case 'EADDRNOTAVAIL':
      return `${hostVariable}=${host}: not an address of this machine (EADDRNOTAVAIL); set ${hostVariable} to one (0.0.0.0 for all)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${hostVariable}=${host}: the name does not resolve (${code}); set ${hostVariable} to an address of this machine`;
    default:
      return `cannot listen on ${host}:${port} (${code ?? 'unknown error'}); check ${variable} and ${hostVariable}`;
  }
}

/** Binds `server`, resolving with the port it got, or rejecting with a ListenError naming the variable. */
export function listen(server: http.Server, options: { host: string; port: number; variable: string; hostVariable: string }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(new ListenError(options.variable, options.hostVariable, options.host, options.port, error.code));
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * `/livez`: the process answers. `/readyz`: every dependency check passes and the service is not draining.
 * `/metrics`: Prometheus text format, when a registry is given.
 * The body names each check, so an operator sees what is not ready without reading logs.
 * Services start it first, before connecting anywhere, and set their checks once their parts exist:
 * a port in use then stops a service before it takes any work, with a ListenError naming the variable.
 */
export async function startHealthServer(options: {
  host: string;
  port: number;
  /** Named in the message when the port cannot be bound. */
  portVariable?: string;
  hostVariable?: string;
  /** Also settable later with setChecks, for a server started before the service's parts exist. */
  checks?: ReadinessCheck[];
  /** Served at /metrics in the Prometheus text format. */
  metrics?: Registry;
  /** Refreshes gauges that are read on demand (queue depths, buffers) just before a scrape. */
  beforeScrape?: () => Promise<void> | void;
}): Promise<HealthServer> {
  let draining = false;
  let checks = options.checks;
  let beforeScrape = options.beforeScrape;
  let notes: (() => Record<string, unknown> | undefined) | undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"alive"}');
      return;
    }
    if (path === '/readyz') {
      void evaluate().then(({ ready, body }) => {
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
      return;
    }
    if (path === '/metrics' && options.metrics) {
      const registry = options.metrics;
      void Promise.resolve()
        .then(() => beforeScrape?.())
        .catch(() => {}) // a failed refresh leaves the last values; the scrape still answers
        .then(() => registry.metrics())
        .then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${error.message}`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });

  async function evaluate() {
    if (!checks) return { ready: false, body: { status: 'starting', draining, checks: {} } };
    const results: Record<string, boolean> = {};
    for (const { name, check } of checks) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    const ready = !draining && Object.values(results).every(Boolean);
    const noted = notes?.();
    return { ready, body: { status: ready ? 'ready' : 'not ready', draining, checks: results, ...(noted ? { notes: noted } : {}) } };
  }

  const port = await listen(server, {
    host: options.host,
    port: options.port,
    variable: options.portVariable ?? 'HEALTH_PORT',
    hostVariable: options.hostVariable ?? 'HEALTH_HOST',
  });
  return {
    port,
    setChecks: (given) => {
      checks = given;
    },
    setBeforeScrape: (refresh) => {
      beforeScrape = refresh;
    },
    setNotes: (given) => {
      notes = given;
    },
    setDraining: () => {
      draining = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

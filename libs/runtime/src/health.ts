import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  check: () => boolean | Promise<boolean>;
}

export interface HealthServer {
  port: number;
  setDraining(): void;
  close(): Promise<void>;
}

/**
 * `/livez`: the process answers. `/readyz`: every dependency check passes and the service is not draining.
 * `/metrics`: Prometheus text format, when a registry is given.
 * The body names each check, so an operator sees what is not ready without reading logs.
 */
export async function startHealthServer(options: {
  host: string;
  port: number;
  checks: ReadinessCheck[];
  /** Served at /metrics in the Prometheus text format. */
  metrics?: Registry;
  /** Refreshes gauges that are read on demand (queue depths, buffers) just before a scrape. */
  beforeScrape?: () => Promise<void> | void;
}): Promise<HealthServer> {
  let draining = false;
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
        .then(() => options.beforeScrape?.())
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
    const results: Record<string, boolean> = {};
    for (const { name, check } of options.checks) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    const ready = !draining && Object.values(results).every(Boolean);
    return { ready, body: { status: ready ? 'ready' : 'not ready', draining, checks: results } };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
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

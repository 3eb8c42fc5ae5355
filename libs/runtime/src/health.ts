import http from 'node:http';
import type { AddressInfo } from 'node:net';

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
 * The body names each check, so an operator sees what is not ready without reading logs.
 */
export async function startHealthServer(options: { host: string; port: number; checks: ReadinessCheck[] }): Promise<HealthServer> {
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

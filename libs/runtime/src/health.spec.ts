import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, ListenError, startHealthServer, type HealthServer } from './health.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function holdPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

async function get(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.json() };
}

describe('startHealthServer', () => {
  it('rejects a port in use with one line naming HEALTH_PORT, not a raw EADDRINUSE', async () => {
    const port = await holdPort();
    const error = await startHealthServer({ host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListenError);
    expect((error as Error).message).toBe(
      `HEALTH_PORT=${port}: port ${port} on 127.0.0.1 is already in use (EADDRINUSE); set HEALTH_PORT to a free port (0 picks one)`,
    );
  });

  it('answers /livez at once and /readyz "starting" until the checks are set', async () => {
    const health: HealthServer = await startHealthServer({ host: '127.0.0.1', port: 0 });
    closers.push(() => health.close());
    expect(await get(health.port, '/livez')).toEqual({ status: 200, body: { status: 'alive' } });
    expect(await get(health.port, '/readyz')).toEqual({ status: 503, body: { status: 'starting', draining: false, checks: {} } });
    health.setChecks([{ name: 'redis', check: () => true }]);
    expect(await get(health.port, '/readyz')).toEqual({ status: 200, body: { status: 'ready', draining: false, checks: { redis: true } } });
  });

  it('names notes in the /readyz body without changing readiness', async () => {
    const health: HealthServer = await startHealthServer({ host: '127.0.0.1', port: 0 });
    closers.push(() => health.close());
    health.setChecks([{ name: 'redis', check: () => true }]);
    let orphaned: number[] = [2];
    health.setNotes(() => (orphaned.length > 0 ? { orphanedShards: orphaned } : undefined));
    expect(await get(health.port, '/readyz')).toEqual({ status: 200, body: { status: 'ready', draining: false, checks: { redis: true }, notes: { orphanedShards: [2] } } });
    orphaned = [];
    expect(await get(health.port, '/readyz')).toEqual({ status: 200, body: { status: 'ready', draining: false, checks: { redis: true } } });
  });
});

describe('listen', () => {
  it('names the variable given, and the host variable for an address this machine does not have', async () => {
    const port = await holdPort();
    const inUse = await listen(http.createServer(), { host: '127.0.0.1', port, variable: 'DASHBOARD_PORT', hostVariable: 'DASHBOARD_HOST' }).catch((e: unknown) => e);
    expect((inUse as Error).message).toMatch(/^DASHBOARD_PORT=\d+: port \d+ on 127\.0\.0\.1 is already in use \(EADDRINUSE\); set DASHBOARD_PORT/);
    // TEST-NET-1 (RFC 5737) is never assigned to a local interface.
    const foreign = await listen(http.createServer(), { host: '192.0.2.1', port: 0, variable: 'DASHBOARD_PORT', hostVariable: 'DASHBOARD_HOST' }).catch((e: unknown) => e);
    expect((foreign as Error).message).toBe('DASHBOARD_HOST=192.0.2.1: not an address of this machine (EADDRNOTAVAIL); set DASHBOARD_HOST to one (0.0.0.0 for all)');
  });
});

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './process.js';

export interface PrivateRedis {
  url: string;
  port: number;
  /** A client for CONFIG SET and the like; disconnected by stop(). */
  admin: Redis;
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own on a free loopback port (no persistence, noeviction), for tests that
 * change server settings such as maxmemory, which the shared test Redis must never have changed.
 */
export async function startPrivateRedis(options: { maxmemory?: string } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tv-test-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
      ...(options.maxmemory ? ['--maxmemory', options.maxmemory] : [])],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => 100 });
  admin.on('error', () => {});
  const stop = async () => {
    admin.disconnect();
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error('redis-server exited');
      if (admin.status === 'wait') await admin.connect();
      return (await admin.ping()) === 'PONG';
    }, `redis-server on port ${port}`, 15_000, 50);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, admin, stop };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

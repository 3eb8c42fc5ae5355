import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { tickShards } from '@tickvault/schema';
import { eventually } from './process.js';

// Tests that start a cluster use these ports only (the cluster bus takes port + 10000), so they never
// meet the shared test Redis or another suite's private servers on free ports.
const PORT_RANGE = [7100, 7199] as const;
// Redis marks a silent master failed after this long and its replica takes over: short for tests,
// long enough that a starved machine (tests at nice 19 beside busy loops) does not fail over by itself.
const NODE_TIMEOUT_MS = 2_000;
// Starting six servers, creating the cluster and waiting for it to agree takes seconds on a quiet
// machine and has taken tens of seconds on a saturated one.
const WAIT_MS = 120_000;

export interface ClusterServer {
  port: number;
  pid: number;
  child: ChildProcess;
}

/**
 * A Redis Cluster of its own on this machine: `masters` masters each with one replica, in a temp dir,
 * no persistence, noeviction. Construct it, keep it where afterAll sees it, then `start()`; `destroy()`
 * kills every server by its pid (also those a failed start left) and removes the directory.
 */
export class RedisCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'tv-test-redis-cluster-'));
  readonly servers: ClusterServer[] = [];
  private readonly admins = new Map<number, Redis>();

  constructor(private readonly masters = 3) {}

  /** `127.0.0.1:P1,127.0.0.1:P2,…`: REDIS_CLUSTER_NODES for the services. */
  get nodesSetting(): string {
    return this.servers.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  get nodes(): { host: string; port: number }[] {
    return this.servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  async start(): Promise<void> {
    const ports = await freePortBlock(this.masters * 2);
    for (const port of ports) {
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir,
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
        '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--maxmemory-policy', 'noeviction',
      ], { stdio: 'ignore' });
      if (child.pid === undefined) throw new Error(`redis-server on port ${port} did not start`);
      this.servers.push({ port, pid: child.pid, child });
    }
    for (const { port } of this.servers) {
      await eventually(async () => (await this.admin(port).ping()) === 'PONG', `redis-server on port ${port}`, WAIT_MS, 50);
    }
    await run('redis-cli', ['--cluster', 'create', ...this.servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await this.waitHealthy();
  }

  /** Until every live node says cluster_state:ok and sees `masters` masters, each with its slots. */
  async waitHealthy(timeoutMs = WAIT_MS): Promise<void> {
    await eventually(async () => {
      for (const server of this.live()) {
        const info = await this.admin(server.port).cluster('INFO');
        if (!/cluster_state:ok/.test(info) || !new RegExp(`cluster_size:${this.masters}\\b`).test(info)) return false;
      }
      return (await this.masterPorts()).length === this.masters;
    }, `the Redis Cluster to be ok on ports ${this.live().map((s) => s.port).join(',')}`, timeoutMs, 100);
  }

  /** Ports of the masters that own slots, as a live node sees them. */
  async masterPorts(): Promise<number[]> {
    const [any] = this.live();
    if (!any) return [];
    const lines = String(await this.admin(any.port).cluster('NODES')).trim().split('\n');
    return lines
      .map((line) => line.split(' '))
      .filter((f) => f[2]?.split(',').includes('master') && !f[2].includes('fail') && f.length > 8)
      .map((f) => Number(/:(\d+)@/.exec(f[1] ?? '')?.[1]));
  }

  /** The port of the master serving `key`'s slot. */
  async masterOf(key: string): Promise<number> {
    const [any] = this.live();
    const slot = await this.admin(any!.port).cluster('KEYSLOT', key);
    const slots = await this.admin(any!.port).cluster('SLOTS');
    const master = slots.find(([from, to]) => slot >= from && slot <= to)?.[2];
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master[1];
  }

  /**
   * Kills the master on `port` (SIGKILL by pid), then waits until its replica has been promoted and
   * the cluster is ok again. Resolves with the new master's port.
   */
  async killMaster(port: number): Promise<{ promoted: number }> {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`no server on port ${port}`);
    const replicaPort = await this.replicaOf(port);
    const exited = new Promise<void>((resolve) => (server.child.exitCode !== null ? resolve() : server.child.once('exit', () => resolve())));
    process.kill(server.pid, 'SIGKILL');
    await exited;
    this.admins.get(port)?.disconnect();
    this.admins.delete(port);
    await eventually(async () => /role:master/.test(await this.admin(replicaPort).info('replication')), `the replica on port ${replicaPort} to be promoted`, WAIT_MS, 100);
    await this.waitHealthy();
    return { promoted: replicaPort };
  }

  async replicaOf(masterPort: number): Promise<number> {
    for (const server of this.live()) {
      if (server.port === masterPort) continue;
      const info = await this.admin(server.port).info('replication');
      if (/role:slave/.test(info) && new RegExp(`master_port:${masterPort}\\b`).test(info)) return server.port;
    }
    throw new Error(`no replica follows the master on port ${masterPort}`);
  }

  /** A plain client of one server (for INFO, CLUSTER …); disconnected by destroy(). */
  admin(port: number): Redis {
    let client = this.admins.get(port);
    if (!client) {
      client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100, lazyConnect: false });
      client.on('error', () => {});
      this.admins.set(port, client);
    }
    return client;
  }

  /** Kills every server by its pid and removes the directory. */
  async destroy(): Promise<void> {
    for (const client of this.admins.values()) client.disconnect();
    this.admins.clear();
    await Promise.all(this.servers.map(async (server) => {
      if (server.child.exitCode !== null || server.child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        return; // already gone
      }
      await exited;
    }));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private live(): ClusterServer[] {
    return this.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
  }
}

/**
 * A queue prefix of the test's own whose tick shards sit on as many different masters as there are
 * shards (or masters): which master a hash tag lands on is a property of its name, so the test picks
 * a name that shows the spread rather than hoping a random one does.
 */
export async function spreadPrefix(cluster: RedisCluster, shards: number): Promise<string> {
  const want = Math.min(shards, (await cluster.masterPorts()).length);
  for (let i = 0; i < 200; i++) {
    const prefix = `{tvtest-${randomBytes(5).toString('hex')}}`;
    const masters = await Promise.all(tickShards(prefix, shards).map((s) => cluster.masterOf(`${s.prefix}:${s.name}:wait`)));
    if (new Set(masters).size >= want) return prefix;
  }
  throw new Error(`no prefix puts ${shards} shards on ${want} masters`);
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: WAIT_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || stdout || error.message}`));
      else resolve(stdout);
    });
  });
}

/** `count` consecutive ports in PORT_RANGE whose ports and bus ports (+10000) are free right now. */
async function freePortBlock(count: number): Promise<number[]> {
  // A random start: two files that run at once rarely try the same block first.
  const span = PORT_RANGE[1] - PORT_RANGE[0] + 1;
  const offset = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const first = PORT_RANGE[0] + ((offset + i) % span);
    if (first + count - 1 > PORT_RANGE[1]) continue;
    const ports = Array.from({ length: count }, (_, k) => first + k);
    const free = await Promise.all(ports.flatMap((p) => [isFree(p), isFree(p + 10_000)]));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`no ${count} free ports in ${PORT_RANGE.join('-')}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, createTestRedis, eventually, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { runCli } from '../testing/run-cli.js';
import { REPO_ROOT, SERVICES, type ServiceName } from './services.js';

const NAMES = Object.keys(SERVICES) as ServiceName[];

/** `tickvault start` as a user runs it, its output kept by line; stopped with SIGTERM (never SIGKILL: its services would be left running). */
class StartProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly closed: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'tools/cli/src/main.ts', 'start'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.stdout.push(line));
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.closed = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** The JSON log lines of one service, from the supervisor's `name | line` output. */
  logOf(name: ServiceName): { msg?: string; [key: string]: unknown }[] {
    const prefix = new RegExp(`^${name}\\s*\\| `);
    return [...this.stdout, ...this.stderr].filter((l) => prefix.test(l)).flatMap((l) => {
      try {
        return [JSON.parse(l.replace(prefix, '')) as { msg?: string }];
      } catch {
        return [];
      }
    });
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }
}

describe('tickvault start', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  const started: StartProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await createTestRedis();
  });
  afterEach(async () => {
    for (const run of started.splice(0)) {
      run.signal('SIGTERM');
      await run.closed;
    }
  });
  afterAll(async () => {
    await redis?.cleanup();
    await db?.drop();
  });

  const baseEnv = () => ({
    DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix,
    CRYPTO_SOURCES: 'sim', STOCK_SOURCES: 'sim', MACRO_SOURCES: 'sim',
    DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PASSWORD: 'start-test-password-1',
  });

  it('lists every service\'s configuration problems at once and starts nothing', async () => {
    const result = await runCli(['start'], { WRITER_CONCURRENCY: 'many', INGEST_BATCH_MAX_TICKS: '-5', DASHBOARD_PORT: 'abc', DATABASE_URL: 'postgres://u:PgSecret9@127.0.0.1:1/x' });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toBe('Invalid configuration: 3 problems; nothing was started');
    expect(lines.slice(1).map((l) => l.replace(/:.*\[/, ' [')).sort()).toEqual([
      '  - DASHBOARD_PORT [dashboard]',
      '  - INGEST_BATCH_MAX_TICKS [ingest-crypto, ingest-stock, ingest-macro]',
      '  - WRITER_CONCURRENCY [writer]',
    ]);
  });

  it('starts every service when their default ports are taken, each on a free port it names', async () => {
    // Another stack's ports, held only until the plan is made. A port someone else already holds is taken all the same.
    const holders: net.Server[] = [];
    const defaults = [...NAMES.map((name) => SERVICES[name].healthPort), 3000];
    for (const port of defaults) {
      const server = net.createServer();
      const held = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, port === 3000 ? '127.0.0.1' : '0.0.0.0', () => resolve(true));
      });
      if (held) holders.push(server);
    }
    const release = () => Promise.all(holders.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    try {
      const run = new StartProcess({ ...baseEnv(), DATA_ENVIRONMENT: 'demo' });
      started.push(run);
      await eventually(() => run.stdout.some((l) => l.startsWith('starting ')) || run.hasExited, 'the start plan', 60_000);
      await release();
      expect(run.hasExited, run.stderr.join('\n')).toBe(false);
      for (const name of NAMES) {
        const note = run.stdout.find((l) => l.startsWith(`${name}: health port ${SERVICES[name].healthPort} is in use; using `));
        expect(note, `${name}'s note\n${run.stdout.join('\n')}`).toBeDefined();
        const planned = Number(/using (\d+) for/.exec(note!)![1]);
        const line = await eventually(() => run.logOf(name).find((l) => l.msg === `${name} started`), `${name} started`, 120_000);
        expect(line.healthPort).toBe(planned);
      }
      expect(run.stdout).toContainEqual(expect.stringMatching(/^dashboard: port 3000 is in use; serving on \d+ instead \(set DASHBOARD_PORT to choose\)$/));
      run.signal('SIGINT');
      expect(await run.closed, run.stderr.join('\n')).toBe(0);
    } finally {
      await release();
    }
  });

  it("shows the problems every service finds in its own configuration, not only the first one's", async () => {
    // Checks the services make themselves, past the variables' syntax: simulated data in a live environment,
    // and a password file that cannot be created.
    const run = new StartProcess({
      ...baseEnv(), DATA_ENVIRONMENT: 'live', HEALTH_PORT: '0', DASHBOARD_PORT: '0',
      DASHBOARD_PASSWORD: '', DASHBOARD_PASSWORD_FILE: '/etc/hostname/dashboard-password',
    });
    started.push(run);
    expect(await run.closed).toBe(1);
    const stderr = run.stderr.join('\n');
    for (const name of ['ingest-crypto', 'ingest-stock', 'ingest-macro'] as const) {
      expect(stderr).toMatch(new RegExp(`${name}\\s*\\| Invalid configuration for ${name}:`));
      expect(stderr).toMatch(new RegExp(`${name}\\s*\\|   - [A-Z_]+_SOURCES: source "sim" produces simulated data`));
    }
    expect(stderr).toMatch(/dashboard\s*\| Invalid configuration for dashboard: 1 problem/);
    expect(stderr).toMatch(/dashboard\s*\| {3}- DASHBOARD_PASSWORD_FILE: cannot read or create \/etc\/hostname\/dashboard-password/);
    expect(stderr).toMatch(/exited unexpectedly \(code 1\); stopping .* once each has checked its configuration/);
  });
});

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, createTestRedis, eventually, type TestDatabase, type TestRedis } from '@tickvault/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries -- tools/build is the build script, not a workspace: it bundles the workspaces
import { buildAll, ENTRIES } from '../../build/build.mjs';
import { REPO_ROOT, SERVICES, type ServiceName } from './commands/services.js';

const NAMES = Object.keys(SERVICES) as ServiceName[];

/**
 * The production build (item 16 of the operator issue): dist/*.js run by plain node, with no TypeScript
 * and no tsx in any process. `npm start` and the image run exactly these files.
 */
describe('built JavaScript (npm run build → dist/)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let cli: ChildProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await createTestRedis();
    await buildAll({ quiet: true });
  });
  afterAll(async () => {
    if (cli && cli.exitCode === null) {
      cli.kill('SIGTERM');
      await new Promise((resolve) => cli!.once('close', resolve));
    }
    await redis?.cleanup();
    await db?.drop();
  });

  it('builds one file for every service, with the entries the CLI knows them by', () => {
    for (const name of NAMES) expect(ENTRIES[name], name).toBe(SERVICES[name].entry);
    const version = spawnSync(process.execPath, ['dist/cli.js', '--version'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toMatch(/^tickvault \d+\.\d+\.\d+$/);
  });

  it('`node dist/cli.js start` migrates and runs every service as built JavaScript, with no tsx anywhere', async () => {
    const lines: string[] = [];
    cli = spawn(process.execPath, ['dist/cli.js', 'start'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env, LOG_FORMAT: 'json', DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix,
        DATA_ENVIRONMENT: 'demo', CRYPTO_SOURCES: 'sim', STOCK_SOURCES: 'sim', MACRO_SOURCES: 'sim',
        HEALTH_PORT: '0', DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PASSWORD: 'built-test-password-1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: cli.stdout! }).on('line', (line) => lines.push(line));
    createInterface({ input: cli.stderr! }).on('line', (line) => lines.push(line));
    const startedLine = (name: ServiceName) => {
      const prefix = new RegExp(`^${name}\\s*\\| `);
      for (const line of lines) {
        if (!prefix.test(line)) continue;
        try {
          const parsed = JSON.parse(line.replace(prefix, '')) as { msg?: string; pid?: number };
          if (parsed.msg === `${name} started`) return parsed;
        } catch {
          // not a log line
        }
      }
      return undefined;
    };
    for (const name of NAMES) await eventually(() => startedLine(name), `${name} started`, 120_000);
    // The processes the CLI runs, by their command lines: node and a built file, nothing else.
    const children = readFileSync(`/proc/${cli.pid}/task/${cli.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const commandLines = children.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1));
    expect(commandLines.sort()).toEqual(NAMES.map((name) => [`${REPO_ROOT}dist/${name}.js`]).sort());
    // Ticks flow through the built pipeline: the simulated feeds reach the database.
    await eventually(async () => ((await db.sql`select count(*)::int as n from ticks`)[0]!.n as number) > 0 || undefined, 'ticks stored', 60_000, 500);
    cli.kill('SIGINT');
    expect(await new Promise((resolve) => cli!.once('close', resolve)), lines.slice(-20).join('\n')).toBe(0);
  }, 240_000);
});

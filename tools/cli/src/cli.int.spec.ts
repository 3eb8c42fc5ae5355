import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseBaseUrl } from '@tickvault/testing';
import { REPO_ROOT } from './commands/services.js';
import { runCli } from './testing/run-cli.js';

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('tickvault migrate --help (it once ran the migrations)', () => {
  let admin: postgres.Sql;
  let url: string;
  const name = `tv_help_${randomBytes(5).toString('hex')}`;
  const exists = async () => (await admin<{ n: number }[]>`select count(*)::int as n from pg_database where datname = ${name}`)[0]!.n === 1;

  beforeAll(() => {
    const base = testDatabaseBaseUrl();
    admin = postgres(base, { max: 1, onnotice: () => {} });
    const target = new URL(base);
    target.pathname = `/${name}`;
    url = target.toString();
  });
  afterAll(async () => {
    await admin`drop database if exists ${admin(name)} with (force)`;
    await admin.end({ timeout: 5 });
  });

  it('prints the usage and leaves a missing database missing; migrate itself creates it', async () => {
    for (const args of [['migrate', '--help'], ['migrate', '-h'], ['help', 'migrate']]) {
      const result = await runCli(args, { DATABASE_URL: url });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/^usage: tickvault migrate\n/);
      expect(await exists(), args.join(' ')).toBe(false);
    }
    const wrong = await runCli(['migrate', '--dry-run'], { DATABASE_URL: url });
    expect(wrong).toMatchObject({ code: 2, stdout: '' });
    expect(wrong.stderr).toMatch(/^tickvault migrate: unknown option '--dry-run'\nusage: tickvault migrate\n/);
    expect(await exists()).toBe(false);

    // The same URL without --help does create it: the checks above could have failed.
    const migrated = await runCli(['migrate'], { DATABASE_URL: url });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(await exists()).toBe(true);
  });
});

describe('the tickvault command (package.json bin)', () => {
  const launcher = join(REPO_ROOT, 'tools/cli/bin/tickvault.js');
  const elsewhere = realpathSync(tmpdir());

  it('runs the CLI from any directory, with its exit codes', () => {
    const ok = spawnSync(process.execPath, [launcher, '--version'], { cwd: elsewhere, encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok).toMatchObject({ status: 0, stdout: `tickvault ${version}\n` });
    const usage = spawnSync(process.execPath, [launcher, 'report', '--no-such-option'], { cwd: elsewhere, encoding: 'utf8' });
    expect(usage).toMatchObject({ status: 2, stdout: '' });
    expect(usage.stderr).toMatch(/^tickvault report: unknown option '--no-such-option'\nusage: tickvault report /);
  });

  it('is linked by npm install as node_modules/.bin/tickvault, which `npx tickvault` runs', () => {
    expect(realpathSync(join(REPO_ROOT, 'node_modules/.bin/tickvault'))).toBe(realpathSync(launcher));
    const direct = spawnSync(join(REPO_ROOT, 'node_modules/.bin/tickvault'), ['--version'], { cwd: elsewhere, encoding: 'utf8' });
    expect(direct).toMatchObject({ status: 0, stdout: `tickvault ${version}\n` });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../testing/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tickvault-cli-password-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tickvault dashboard-password', () => {
  it('prints the password the dashboard keeps in DASHBOARD_PASSWORD_FILE, alone on stdout', async () => {
    const file = join(dir, 'dashboard-password');
    writeFileSync(file, 'generated-on-first-start-0123456789\n', { mode: 0o600 });
    const result = await runCli(['dashboard-password'], { DASHBOARD_PASSWORD: '', DASHBOARD_PASSWORD_FILE: file });
    expect(result).toEqual({ code: 0, stdout: 'generated-on-first-start-0123456789\n', stderr: `user admin; password from ${file}\n` });
  });

  it('prints DASHBOARD_PASSWORD when it is set', async () => {
    const result = await runCli(['dashboard-password'], { DASHBOARD_PASSWORD: 'from-the-environment', DASHBOARD_USER: 'ops', DASHBOARD_PASSWORD_FILE: join(dir, 'none') });
    expect(result).toMatchObject({ code: 0, stdout: 'from-the-environment\n', stderr: 'user ops; password from DASHBOARD_PASSWORD\n' });
  });

  it('says there is none yet, without creating one, before the dashboard first started', async () => {
    const file = join(dir, 'not-yet', 'dashboard-password');
    const result = await runCli(['dashboard-password'], { DASHBOARD_PASSWORD: '', DASHBOARD_PASSWORD_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`no dashboard password yet: the dashboard generates one in ${file} on its first start`);
  });

  it('prints its usage for --help and exits 0; an unknown option exits 2', async () => {
    const help = await runCli(['dashboard-password', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: tickvault dashboard-password\n/);
    expect((await runCli(['dashboard-password', '--user'], {})).code).toBe(2);
  });
});

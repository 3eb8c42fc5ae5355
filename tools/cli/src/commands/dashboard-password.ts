import { loadConfigOrExit, readSecretFile, type EnvName } from '@tickvault/config';
import type { Command } from './command.js';
import { expectNoArguments } from '../args.js';

const ENV = ['DASHBOARD_AUTH', 'DASHBOARD_USER', 'DASHBOARD_PASSWORD', 'DASHBOARD_PASSWORD_FILE'] as const satisfies readonly EnvName[];

const USAGE = [
  'usage: tickvault dashboard-password',
  '',
  "Prints the dashboard's basic-auth password on stdout (the user name goes to stderr): DASHBOARD_PASSWORD",
  'when set, else the one the dashboard generated on its first start in DASHBOARD_PASSWORD_FILE.',
  'With docker compose: docker compose run --rm cli dashboard-password',
  'Exit 1 when there is none yet (the dashboard has not started) or authentication is not basic.',
  '',
].join('\n');

export const dashboardPasswordCommand: Command = {
  summary: "print the dashboard's password (set in DASHBOARD_PASSWORD, or generated on its first start)",
  usage: USAGE,
  env: ENV,
  async run(args) {
    expectNoArguments(args);
    const config = loadConfigOrExit('dashboard-password', ENV);
    if (config.DASHBOARD_AUTH !== 'basic') {
      process.stderr.write(`DASHBOARD_AUTH=${config.DASHBOARD_AUTH}: the dashboard uses no password${config.DASHBOARD_AUTH === 'bearer' ? ' (its token is DASHBOARD_TOKEN)' : ''}\n`);
      return 1;
    }
    if (config.DASHBOARD_PASSWORD) {
      process.stderr.write(`user ${config.DASHBOARD_USER}; password from DASHBOARD_PASSWORD\n`);
      process.stdout.write(`${config.DASHBOARD_PASSWORD}\n`);
      return 0;
    }
    const path = config.DASHBOARD_PASSWORD_FILE;
    let password: string;
    try {
      password = readSecretFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      process.stderr.write(
        code === 'ENOENT'
          ? `no dashboard password yet: the dashboard generates one in ${path} on its first start (from ${process.cwd()})\n`
          : `cannot read ${path}: ${code ?? (error as Error).message}\n`,
      );
      return 1;
    }
    process.stderr.write(`user ${config.DASHBOARD_USER}; password from ${path}\n`);
    process.stdout.write(`${password}\n`);
    return 0;
  },
};

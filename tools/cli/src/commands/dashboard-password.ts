import { loadConfigOrExit, readSecretFile } from '@tickvault/config';
import type { Command } from './command.js';
import { parseOptions, UsageError } from '../args.js';

const USAGE = [
  'usage: npm run tickvault -- dashboard-password',
  '',
  "Prints the dashboard's basic-auth password on stdout (the user name goes to stderr): DASHBOARD_PASSWORD",
  'when set, else the one the dashboard generated on its first start in DASHBOARD_PASSWORD_FILE.',
  'With docker compose: docker compose exec dashboard node --import tsx tools/cli/src/main.ts dashboard-password',
  'Exit 1 when there is none yet (the dashboard has not started) or authentication is not basic.',
  '',
].join('\n');

export const dashboardPasswordCommand: Command = {
  summary: "print the dashboard's password (set in DASHBOARD_PASSWORD, or generated on its first start)",
  async run(args) {
    let help: boolean | undefined;
    try {
      help = parseOptions(args, { help: { type: 'boolean', short: 'h' } }).values.help;
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const config = loadConfigOrExit('dashboard-password', ['DASHBOARD_AUTH', 'DASHBOARD_USER', 'DASHBOARD_PASSWORD', 'DASHBOARD_PASSWORD_FILE']);
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

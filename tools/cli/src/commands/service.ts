import { spawn } from 'node:child_process';
import type { Command } from './command.js';
import { parseOptions, UsageError } from '../args.js';
import { isServiceName, nodeArgs, serviceEntry, SERVICES } from './services.js';

const USAGE = [
  `usage: tickvault service ${Object.keys(SERVICES).join('|')}`,
  '',
  'Runs one service in the foreground (`npm run service -- <name>` does the same). It reads its own',
  "configuration; SIGINT or SIGTERM drain it, and its exit code is this command's.",
  '',
].join('\n');

/** Runs one service in the foreground; signals pass straight through, and its exit code is ours. */
export const serviceCommand: Command = {
  summary: `run one service in the foreground: ${Object.keys(SERVICES).join(', ')}`,
  usage: USAGE,
  env: [],
  async run(args) {
    const { positionals } = parseOptions(args, {}, true);
    const [name] = positionals;
    if (positionals.length !== 1 || !isServiceName(name)) {
      throw new UsageError(name === undefined ? 'which service?' : `no service "${positionals.join(' ')}"`);
    }
    const child = spawn(process.execPath, nodeArgs(serviceEntry(name)), { stdio: 'inherit' });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
    return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  },
};

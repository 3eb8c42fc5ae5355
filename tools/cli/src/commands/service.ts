import { spawn } from 'node:child_process';
import type { Command } from './command.js';
import { isServiceName, serviceEntry, SERVICES } from './services.js';

/** Runs one service in the foreground; signals pass straight through, and its exit code is ours. */
export const serviceCommand: Command = {
  summary: `run one service in the foreground: ${Object.keys(SERVICES).join(', ')}`,
  async run([name]) {
    if (!isServiceName(name)) {
      process.stderr.write(`usage: npm run service -- <${Object.keys(SERVICES).join('|')}>\n`);
      return 2;
    }
    const child = spawn(process.execPath, ['--import', 'tsx', serviceEntry(name)], { stdio: 'inherit' });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
    return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  },
};

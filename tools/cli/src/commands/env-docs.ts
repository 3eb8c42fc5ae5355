import { renderEnvTable } from '@tickvault/config';
import type { Command } from './command.js';

export const envDocsCommand: Command = {
  summary: "print the README's configuration table from the config registry",
  async run() {
    process.stdout.write(`${renderEnvTable()}\n`);
    return 0;
  },
};

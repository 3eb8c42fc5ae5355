import { loadConfigOrExit, maskUrl } from '@tickvault/config';
import { migrate } from '@tickvault/db';
import { errorMessage } from '@tickvault/runtime';
import type { Command } from './command.js';

export const migrateCommand: Command = {
  summary: 'apply pending database migrations (creates the database if missing)',
  async run() {
    const config = loadConfigOrExit('migrate', ['DATABASE_URL']);
    try {
      const result = await migrate(config.DATABASE_URL);
      if (result.createdDatabase) process.stdout.write(`created database ${maskUrl(config.DATABASE_URL)}\n`);
      for (const step of result.applied) process.stdout.write(`applied ${step}\n`);
      process.stdout.write(`schema at version ${result.to}${result.applied.length === 0 ? ' (already current)' : ''}\n`);
      return 0;
    } catch (error) {
      process.stderr.write(`migrate failed against ${maskUrl(config.DATABASE_URL)}: ${errorMessage(error)}\n`);
      return 1;
    }
  },
};

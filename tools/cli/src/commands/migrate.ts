import { loadConfigOrExit, maskUrl, type EnvName } from '@tickvault/config';
import { migrate } from '@tickvault/db';
import { errorMessage } from '@tickvault/runtime';
import type { Command } from './command.js';
import { expectNoArguments } from '../args.js';

const ENV = ['DATABASE_URL'] as const satisfies readonly EnvName[];

const USAGE = [
  'usage: tickvault migrate',
  '',
  "Applies the pending migrations to DATABASE_URL's database, creating the database first if it does not",
  'exist. Safe to run from several places at once (an advisory lock serialises them); the services refuse',
  'to start until the schema is current.',
  '',
].join('\n');

export const migrateCommand: Command = {
  summary: 'apply pending database migrations (creates the database if missing)',
  usage: USAGE,
  env: ENV,
  async run(args) {
    // An argument it does not know must not be ignored: this command changes the database.
    expectNoArguments(args);
    const config = loadConfigOrExit('migrate', ENV);
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

import { hostname, userInfo } from 'node:os';
import { loadConfigOrExit, maskUrl } from '@tickvault/config';
import { createDb, DATA_ENVIRONMENTS, recordedDataEnvironment, setDataEnvironment, type DataEnvironment } from '@tickvault/db';
import { errorMessage } from '@tickvault/runtime';
import type { Command } from './command.js';
import { parseOptions, UsageError } from '../args.js';

const USAGE = 'usage: npm run tickvault -- data-environment [--set live|demo|test --force]\n';

/**
 * Shows which data environment the database holds, or relabels it. Relabelling says "I know what is
 * in here", so it takes --force: the writer's refusal to mix environments exists for the case where
 * nobody knew.
 */
export const dataEnvironmentCommand: Command = {
  summary: 'show the data environment (live/demo/test) recorded in the database, or relabel it with --set X --force',
  async run(args) {
    let options;
    try {
      options = parseOptions(args, { set: { type: 'string' }, force: { type: 'boolean', default: false } }).values;
      if (options.set !== undefined && !(DATA_ENVIRONMENTS as readonly string[]).includes(options.set)) {
        throw new UsageError(`--set must be one of ${DATA_ENVIRONMENTS.join(', ')}`);
      }
      if (options.set !== undefined && !options.force) throw new UsageError('relabelling a database needs --force');
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`${error.message}\n${USAGE}`);
      return 2;
    }
    const config = loadConfigOrExit('data-environment', ['DATABASE_URL']);
    const sql = createDb(config.DATABASE_URL, { max: 1, applicationName: 'tickvault-cli' });
    try {
      const before = await recordedDataEnvironment(sql);
      if (options.set === undefined) {
        process.stdout.write(`${before ?? '(none recorded yet: the first writer records its DATA_ENVIRONMENT)'}\n`);
        return 0;
      }
      await setDataEnvironment(sql, options.set as DataEnvironment, `cli:${userInfo().username}@${hostname()}`);
      process.stdout.write(`data environment of ${maskUrl(config.DATABASE_URL)}: ${before ?? '(none)'} -> ${options.set}\n`);
      return 0;
    } catch (error) {
      process.stderr.write(`data-environment failed against ${maskUrl(config.DATABASE_URL)}: ${errorMessage(error)}\n`);
      return 1;
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
};

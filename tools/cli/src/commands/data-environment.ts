import { hostname, userInfo } from 'node:os';
import { loadConfigOrExit, maskUrl, type EnvName } from '@tickvault/config';
import { createDb, DATA_ENVIRONMENTS, holdsMarketData, recordedDataEnvironment, setDataEnvironment, type DataEnvironment } from '@tickvault/db';
import { errorMessage } from '@tickvault/runtime';
import type { Command } from './command.js';
import { parseOptions, UsageError } from '../args.js';

const ENV = ['DATABASE_URL'] as const satisfies readonly EnvName[];

const USAGE = [
  'usage: tickvault data-environment [--set live|demo|test [--force]]',
  '',
  'Prints the data environment the database records (live, demo or test): the first row a writer stores',
  'records its DATA_ENVIRONMENT, and writers of another environment are then refused. An empty database',
  'takes whichever environment writes first. --set relabels the database; once it holds data that needs',
  '--force, since it says you know what the data in it is.',
  '',
].join('\n');

/**
 * Shows which data environment the database holds, or relabels it. Relabelling a database with data
 * says "I know what is in here", so it takes --force: the writer's refusal to mix environments exists
 * for the case where nobody knew. An empty one has nothing to mix: any writer would relabel it anyway.
 */
export const dataEnvironmentCommand: Command = {
  summary: 'show the data environment (live/demo/test) recorded in the database, or relabel it with --set X (--force once it holds data)',
  usage: USAGE,
  env: ENV,
  async run(args) {
    const options = parseOptions(args, { set: { type: 'string' }, force: { type: 'boolean', default: false } }).values;
    if (options.set !== undefined && !(DATA_ENVIRONMENTS as readonly string[]).includes(options.set)) {
      throw new UsageError(`--set must be one of ${DATA_ENVIRONMENTS.join(', ')}`);
    }
    const config = loadConfigOrExit('data-environment', ENV);
    const sql = createDb(config.DATABASE_URL, { max: 1, applicationName: 'tickvault-cli' });
    try {
      const before = await recordedDataEnvironment(sql);
      const held = await holdsMarketData(sql);
      if (options.set === undefined) {
        const note = held ? '' : ' (no data stored yet: the first writer to store a row records its DATA_ENVIRONMENT)';
        process.stdout.write(`${before ?? '(none recorded yet)'}${note}\n`);
        return 0;
      }
      if (before !== options.set && held && !options.force) {
        process.stderr.write(
          `${maskUrl(config.DATABASE_URL)} holds ${before ?? 'unlabelled'} data: relabelling it ${options.set} needs --force ` +
            `(say so only if you know the data in it is ${options.set})\n`,
        );
        return 2;
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

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderEnvTable } from '@tickvault/config';
import type { Command } from './command.js';
import { parseOptions } from '../args.js';
import { REPO_ROOT } from './services.js';

const MARKERS = /<!-- env-table:start -->\n[\s\S]*?\n<!-- env-table:end -->/;

const USAGE = [
  'usage: tickvault env-docs [--write]',
  '',
  "Prints the README's configuration table (markdown) from the config registry, libs/config/src/env.ts.",
  '  --write  replace the table between the env-table markers in README.md instead',
  '',
].join('\n');

export const envDocsCommand: Command = {
  summary: "print the README's configuration table from the config registry (--write: update README.md)",
  usage: USAGE,
  env: [],
  async run(args) {
    const { write } = parseOptions(args, { write: { type: 'boolean', default: false } }).values;
    const table = renderEnvTable();
    if (!write) {
      process.stdout.write(`${table}\n`);
      return 0;
    }
    const path = join(REPO_ROOT, 'README.md');
    const readme = readFileSync(path, 'utf8');
    if (!MARKERS.test(readme)) {
      process.stderr.write('README.md has no <!-- env-table:start --> / <!-- env-table:end --> markers\n');
      return 1;
    }
    writeFileSync(path, readme.replace(MARKERS, `<!-- env-table:start -->\n${table}\n<!-- env-table:end -->`));
    process.stdout.write('README.md configuration table updated\n');
    return 0;
  },
};

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderEnvTable } from '@tickvault/config';
import type { Command } from './command.js';
import { REPO_ROOT } from './services.js';

const MARKERS = /<!-- env-table:start -->\n[\s\S]*?\n<!-- env-table:end -->/;

export const envDocsCommand: Command = {
  summary: "print the README's configuration table from the config registry (--write: update README.md)",
  async run(args) {
    const table = renderEnvTable();
    if (!args.includes('--write')) {
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

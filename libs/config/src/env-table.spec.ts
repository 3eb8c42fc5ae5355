import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderEnvTable } from './env-table.js';

describe('README configuration table', () => {
  it('documents exactly the variables the config schema reads (regenerate: npm run tickvault -- env-docs --write)', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const match = /<!-- env-table:start -->\n([\s\S]*?)\n<!-- env-table:end -->/.exec(readme);
    expect(match, 'README has the env-table markers').not.toBeNull();
    expect(match![1]).toBe(renderEnvTable());
  });
});

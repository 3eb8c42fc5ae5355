import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const boundaries = (depConstraints, extra = {}) => [
  'error',
  { enforceBuildableLibDependency: false, allow: [], depConstraints, ...extra },
];

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '.nx/**', 'coverage/**'] },
  ...nx.configs['flat/base'],
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Apps import libs, never the reverse; ingest code never reaches the database library.
      '@nx/enforce-module-boundaries': boundaries([
        { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
        { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
        { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib'] },
        { sourceTag: 'scope:ingest', notDependOnLibsWithTags: ['scope:db', 'scope:writer'] },
        { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
        { sourceTag: 'scope:db', onlyDependOnLibsWithTags: ['scope:shared'] },
      ]),
      // Test helpers are for spec files only. (Nx's graph counts spec imports as project
      // dependencies, so this cannot be a tag constraint.)
      'no-restricted-imports': ['error', { patterns: [{ group: ['@tickvault/testing'], message: 'test helpers belong in *.spec.ts files' }] }],
    },
  },
  {
    // Tests wire real parts together (a tool's test drives the writer and the db), so they may
    // import any project but test helpers; ingest tests still never reach the database.
    files: ['**/*.spec.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries([
        { sourceTag: '*', onlyDependOnLibsWithTags: ['*'] },
        { sourceTag: 'scope:ingest', notDependOnLibsWithTags: ['scope:db', 'scope:writer'] },
      ]),
      'no-restricted-imports': 'off',
    },
  },
  {
    // The bench drives the real writer process with the same helpers the end-to-end tests use.
    files: ['libs/testing/**/*.ts', 'tools/bench/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
];

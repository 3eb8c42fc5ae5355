import { describe, expect, it } from 'vitest';
import { dockerignoreMatcher, durationSeconds, interpolate, parseDockerfile, runtimeImports } from './parse.js';

describe('interpolate (Compose rules)', () => {
  const env = { SET: 'v', EMPTY: '' };
  it.each([
    ['${SET:-d}', 'v'],
    ['${EMPTY:-d}', 'd'],
    ['${UNSET:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${UNSET-d}', 'd'],
    ['${UNSET:-}', ''],
    ['${SET}', 'v'],
    ['$SET/x', 'v/x'],
    ['${UNSET}', ''],
    ['$${SET}', '${SET}'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['a://${UNSET:-u}:${UNSET:-p}@h/${SET}', 'a://u:p@h/v'],
  ])('%s -> %s', (input, output) => expect(interpolate(input, env)).toBe(output));

  it('fails on a required variable that is unset', () => {
    expect(() => interpolate('${UNSET:?needed}', env)).toThrow(/needed/);
  });
});

describe('dockerignoreMatcher', () => {
  const ignored = dockerignoreMatcher('# c\n**/node_modules\n/.git\n*.log\n**/*.spec.ts\ndist/\n!dist/keep\n');
  it.each([
    ['node_modules/a/b.js', true],
    ['libs/x/node_modules/y', true],
    ['.git/HEAD', true],
    ['a.log', true],
    ['libs/a.log', false], // `*` does not cross directories
    ['libs/x/src/a.spec.ts', true],
    ['libs/x/src/a.ts', false],
    ['dist/a.js', true],
    ['dist/keep', false],
    ['package.json', false],
  ])('%s ignored: %s', (path, expected) => expect(ignored(path)).toBe(expected));
});

describe('runtimeImports', () => {
  it('keeps value imports and re-exports, drops type-only ones', () => {
    const source = [
      "import { a, type B } from 'kept-a';",
      "import type { C } from 'dropped-type';",
      'import {',
      '  d,',
      '  e,',
      "} from 'kept-multiline';",
      "export * from './kept-reexport.js';",
      "export type { F } from 'dropped-export-type';",
      'export type G = { h: string }',
      "import 'kept-side-effect';",
      "const lazy = await import('kept-dynamic');",
      "const s = 'from nowhere';",
    ].join('\n');
    expect(runtimeImports(source).sort()).toEqual(['./kept-reexport.js', 'kept-a', 'kept-dynamic', 'kept-multiline', 'kept-side-effect']);
  });
});

describe('parseDockerfile', () => {
  it('joins continuation lines and drops comments', () => {
    const ins = parseDockerfile('# syntax=docker/dockerfile:1\nFROM x AS y\nRUN a \\\n  # note\n  b\nCMD ["c"]\n');
    expect(ins.map((i) => [i.keyword, i.args])).toEqual([
      ['FROM', 'x AS y'],
      ['RUN', 'a b'],
      ['CMD', '["c"]'],
    ]);
  });
});

it('durationSeconds', () => {
  expect(durationSeconds('30s')).toBe(30);
  expect(durationSeconds('1m30s')).toBe(90);
  expect(durationSeconds('1h')).toBe(3600);
  expect(durationSeconds('500ms')).toBe(0.5);
});

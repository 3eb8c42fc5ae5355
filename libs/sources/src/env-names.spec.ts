import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ENV } from '@tickvault/config';

/**
 * Messages tell operators which setting to fix, so a name in one must be a real environment
 * variable: one of the registry in libs/config/src/env.ts. A value that is not configurable is
 * described in words instead.
 */

const SRC = fileURLToPath(new URL('.', import.meta.url));
/** An ALL_CAPS name with at least one underscore: the shape of every variable in the registry. */
const SETTING_NAME = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g;
/** ALL_CAPS names in strings that are not settings (error codes and the like), with the reason. */
const NOT_SETTINGS = new Set<string>([]);

/** Setting-shaped names in the string literals and template text of a TypeScript source (not comments, not code). */
function namesInStrings(fileName: string, text: string): { name: string; line: number }[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: { name: string; line: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      for (const match of node.text.matchAll(SETTING_NAME)) found.push({ name: match[0], line });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const sourceFiles = (readdirSync(SRC, { recursive: true }) as string[])
  .filter((path) => path.endsWith('.ts') && !path.endsWith('.spec.ts'))
  .map((path) => join(SRC, path))
  .sort();

describe('setting names in libs/sources messages', () => {
  it('finds names in string literals and template text only', () => {
    const code = [
      '// COMMENT_ONLY_NAME is not a message',
      'const LOCAL_CONSTANT = 1;',
      "throw new Error('SINGLE_QUOTED must be set');",
      'throw new Error(`${LOCAL_CONSTANT} then IN_TEMPLATE_TAIL, and ${x} IN_TEMPLATE_MIDDLE ${y}`);',
      'const plain = `NO_SUBSTITUTION here`;',
      "check(value, 'PASSED_AS_ARGUMENT');",
      "const words = 'JSON and URL and GET are not settings';",
    ].join('\n');
    expect(namesInStrings('snippet.ts', code).map((f) => f.name)).toEqual(['SINGLE_QUOTED', 'IN_TEMPLATE_TAIL', 'IN_TEMPLATE_MIDDLE', 'NO_SUBSTITUTION', 'PASSED_AS_ARGUMENT']);
  });

  it('every ALL_CAPS_NAME in a string of libs/sources/src/**/*.ts (specs aside) is a variable of the env registry', () => {
    const registry = new Set(Object.keys(ENV));
    const unknown: string[] = [];
    const seen = new Set<string>();
    for (const file of sourceFiles) {
      for (const { name, line } of namesInStrings(file, readFileSync(file, 'utf8'))) {
        seen.add(name);
        if (!registry.has(name) && !NOT_SETTINGS.has(name)) unknown.push(`${relative(SRC, file)}:${line} ${name}`);
      }
    }
    expect(unknown).toEqual([]);
    // The scan reads what it should: names the providers do mention.
    expect(sourceFiles.some((file) => file.endsWith(join('yahoo', 'yahoo-source.ts')))).toBe(true);
    expect([...seen]).toEqual(expect.arrayContaining(['YAHOO_POLL_SECONDS', 'FRED_POLL_SECONDS', 'COINBASE_WS_URL', 'ALPACA_KEY_ID']));
  });
});

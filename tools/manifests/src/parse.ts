import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
// eslint-disable-next-line @nx/enforce-module-boundaries -- tools/build is the build script, not a workspace: it bundles the workspaces
import { ENTRIES } from '../../build/build.mjs';

/** Small, dependency-free readers for the deployment files, so tests can check them without Docker. */

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const readRepoFile = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

// --- the build (tools/build/build.mjs) ---------------------------------------------------------

/**
 * The TypeScript entry the build bundles into `file`, when `file` is `dist/<name>.js` (relative to the
 * repository root, as the image's commands name it) and `<name>` is one of the build's ENTRIES; else undefined.
 */
export function builtFrom(file: string | undefined): string | undefined {
  const name = /^dist\/([^/]+)\.js$/.exec(file ?? '')?.[1];
  return name !== undefined && Object.hasOwn(ENTRIES, name) ? ENTRIES[name] : undefined;
}

// --- docker compose -----------------------------------------------------------------------------

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  stop_grace_period?: string;
  container_name?: string;
  ports?: unknown[];
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Parses a compose file with YAML merge keys (`<<: *anchor`) resolved, as Compose does. */
export function parseCompose(text: string): ComposeFile {
  return parseYaml(text, { merge: true }) as ComposeFile;
}

/**
 * Compose variable interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`. Nested expressions are not used
 * in this repository and are rejected rather than guessed at.
 */
export function interpolate(value: string, env: Readonly<Record<string, string | undefined>>): string {
  return value.replace(/\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced: string | undefined, bare: string | undefined) => {
    if (match === '$$') return '$';
    if (bare !== undefined) return env[bare] ?? '';
    const expr = braced ?? '';
    if (expr.includes('$')) throw new Error(`nested interpolation is not supported: ${match}`);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])(.*))?$/s.exec(expr);
    if (!m) throw new Error(`invalid interpolation: ${match}`);
    const [, name = '', colon, op, arg = ''] = m;
    const current = env[name];
    const missing = colon ? current === undefined || current === '' : current === undefined;
    if (op === undefined) return current ?? '';
    if (op === '-') return missing ? arg : (current ?? '');
    if (op === '?') {
      if (missing) throw new Error(`required variable ${name} is not set: ${arg}`);
      return current ?? '';
    }
    return missing ? '' : arg; // '+'
  });
}

/** A service's environment as raw (uninterpolated) strings; `KEY` without a value becomes undefined. */
export function rawEnvironment(service: ComposeService): Record<string, string | undefined> {
  const env = service.environment;
  const out: Record<string, string | undefined> = {};
  if (Array.isArray(env)) {
    for (const item of env) {
      const eq = item.indexOf('=');
      if (eq === -1) out[item] = undefined;
      else out[item.slice(0, eq)] = item.slice(eq + 1);
    }
  } else if (env) {
    for (const [key, value] of Object.entries(env)) out[key] = value === null ? undefined : String(value);
  }
  return out;
}

/** The environment a container would get, given the variables Compose interpolates from (.env, shell). */
export function resolvedEnvironment(
  service: ComposeService,
  interpolationEnv: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(rawEnvironment(service))) {
    out[key] = value === undefined ? interpolationEnv[key] : interpolate(value, interpolationEnv);
  }
  return out;
}

export function dependsOn(service: ComposeService): Record<string, string> {
  const deps = service.depends_on;
  if (!deps) return {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']));
}

/** Compose durations such as `30s`, `1m30s`, `500ms`, in seconds. */
export function durationSeconds(value: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6 };
  let total = 0;
  let rest = value.trim();
  if (rest === '') throw new Error('empty duration');
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|us|h|m|s)/.exec(rest);
    if (!m) throw new Error(`invalid duration: ${value}`);
    total += Number(m[1]) * (units[m[2] ?? 's'] ?? 1);
    rest = rest.slice(m[0].length);
  }
  return total;
}

// --- Kubernetes manifests -------------------------------------------------------------------------

/** Every document of a multi-document YAML file (`---` separated), empty ones dropped; throws on a syntax error. */
export function parseYamlDocuments(text: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

/** Kubernetes resource quantities (`250m`, `1`, `512Mi`, `1.5Gi`, `100M`) as plain numbers: cores or bytes. */
export function quantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value.trim());
  if (!m) throw new Error(`invalid quantity: ${value}`);
  const factors: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (m[2] ? (factors[m[2]] ?? 1) : 1);
}

// --- .env files ---------------------------------------------------------------------------------

export interface DotenvEntry {
  key: string;
  value: string;
  /** The comment lines directly above the entry. */
  comment: string[];
}

/** The plain KEY=value subset of the .env format that .env.example uses (no quotes, no export). */
export function parseDotenv(text: string): DotenvEntry[] {
  const entries: DotenvEntry[] = [];
  let comment: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '') {
      comment = [];
    } else if (trimmed.startsWith('#')) {
      comment.push(trimmed.replace(/^#\s?/, ''));
    } else {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
      if (!m) throw new Error(`not a KEY=value line: ${line}`);
      entries.push({ key: m[1] ?? '', value: m[2] ?? '', comment });
      comment = [];
    }
  }
  return entries;
}

// --- Dockerfile ---------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined; comments and the parser directive dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (buffer === '' && (line === '' || line.startsWith('#'))) return;
    if (buffer !== '' && line.startsWith('#')) return; // comments inside a continuation are dropped
    if (buffer === '') start = index + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1).trimEnd()} `;
      return;
    }
    buffer += line;
    const m = /^(\S+)\s*(.*)$/s.exec(buffer.trim());
    if (m) out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line: start });
    buffer = '';
  });
  return out;
}

/** Splits instructions into stages, resolving `${ARG}` in FROM from the global ARGs' defaults. */
export function dockerStages(instructions: Instruction[]): Stage[] {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(ins.args);
      if (m) globalArgs[m[1] ?? ''] = m[2] ?? '';
    } else if (ins.keyword === 'FROM') {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const from = (parts[0] ?? '').replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n: string) => globalArgs[n] ?? '');
      stages.push({ from, ...(parts[1]?.toUpperCase() === 'AS' && parts[2] ? { name: parts[2] } : {}), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

export interface CopyArgs {
  from?: string;
  sources: string[];
  dest: string;
}

export function parseCopy(args: string): CopyArgs {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** The JSON (exec) form of ENTRYPOINT / CMD / HEALTHCHECK CMD; throws on the shell form. */
export function execForm(args: string): string[] {
  const value: unknown = JSON.parse(args);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`not an exec-form array: ${args}`);
  return value;
}

// --- .dockerignore ------------------------------------------------------------------------------

/**
 * `.dockerignore` semantics as BuildKit applies them: patterns are relative to the context root
 * (a leading `/` is dropped), `*` and `?` stay within one path segment, `**` spans any number of
 * them, a pattern that matches a directory excludes everything below it, and `!` re-includes;
 * the last matching pattern wins.
 */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).trim().replace(/^\/+/, '')).replace(/\/+$/, '');
      return { negate, regex: globToRegex(pattern) };
    });
  return (path: string) => {
    const segments = posix.normalize(path).split('/');
    // A path is excluded when it, or one of its parent directories, matches.
    const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.negate;
    }
    return excluded;
  };
}

function globToRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more directories; a trailing `**` matches everything.
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

// --- workspaces and imports -----------------------------------------------------------------------

export interface Workspace {
  dir: string;
  name: string;
  exports?: unknown;
}

/** The npm workspaces of the root package.json (`apps/*` style globs), each with its package.json. */
export function listWorkspaces(): Workspace[] {
  const root = JSON.parse(readRepoFile('package.json')) as { workspaces: string[] };
  const out: Workspace[] = [];
  for (const glob of root.workspaces) {
    const m = /^([^*]+)\/\*$/.exec(glob);
    if (!m) throw new Error(`unsupported workspace glob ${glob}`);
    const parent = m[1] ?? '';
    for (const entry of readdirSync(join(REPO_ROOT, parent), { withFileTypes: true })) {
      const dir = `${parent}/${entry.name}`;
      if (!entry.isDirectory() || !existsSync(join(REPO_ROOT, dir, 'package.json'))) continue;
      const pkg = JSON.parse(readRepoFile(`${dir}/package.json`)) as { name: string; exports?: unknown };
      out.push({ dir, name: pkg.name, exports: pkg.exports });
    }
  }
  return out.sort((a, b) => a.dir.localeCompare(b.dir));
}

const IMPORT_PATTERNS = [
  // import x from 'm'; import { a, type b } from 'm'; export * from 'm'; export { a } from 'm'
  // (the clause may span lines, but never into the next import/export statement)
  /^\s*(import|export)\s+(type\s+)?(?:(?!\n\s*(?:import|export)\b)[^'";])*?\sfrom\s*['"]([^'"]+)['"]/gm,
  // import 'm' (side effect)
  /^\s*import\s*['"]([^'"]+)['"]/gm,
  // import('m')
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** Module specifiers a file loads at run time (`import type` / `export type` are erased and skipped). */
export function runtimeImports(source: string): string[] {
  const out = new Set<string>();
  for (const m of source.matchAll(IMPORT_PATTERNS[0] as RegExp)) if (!m[2]) out.add(m[3] ?? '');
  for (const pattern of IMPORT_PATTERNS.slice(1)) for (const m of source.matchAll(pattern)) out.add(m[1] ?? '');
  out.delete('');
  return [...out];
}

/**
 * Follows run-time imports from the entry files through relative paths and `@tickvault/*`
 * workspace packages; returns the files reached and the external packages they import.
 */
export function traceRuntimeImports(entries: string[]): { files: string[]; packages: string[] } {
  const workspaces = new Map(listWorkspaces().map((w) => [w.name, w]));
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() ?? '';
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of runtimeImports(readRepoFile(file))) {
      if (spec.startsWith('.')) {
        const target = posix.join(posix.dirname(file), spec).replace(/\.js$/, '.ts');
        queue.push(existsSync(join(REPO_ROOT, target)) ? target : `${target}.ts`);
      } else if (spec.startsWith('node:') || builtinModules.includes(spec)) {
        continue;
      } else {
        const [scopeOrName = '', maybeName, ...rest] = spec.split('/');
        const pkgName = scopeOrName.startsWith('@') ? `${scopeOrName}/${maybeName}` : scopeOrName;
        const subpath = scopeOrName.startsWith('@') ? rest.join('/') : [maybeName, ...rest].filter(Boolean).join('/');
        const ws = workspaces.get(pkgName);
        if (ws) queue.push(posix.join(ws.dir, workspaceExport(ws, subpath ? `./${subpath}` : '.')));
        else packages.add(pkgName);
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

function workspaceExport(ws: Workspace, subpath: string): string {
  const exp = ws.exports;
  const target = typeof exp === 'string' && subpath === '.' ? exp : (exp as Record<string, unknown> | undefined)?.[subpath];
  if (typeof target !== 'string') throw new Error(`${ws.name} does not export ${subpath}`);
  return target;
}

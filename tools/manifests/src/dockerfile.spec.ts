import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  dockerignoreMatcher,
  dockerStages,
  execForm,
  listWorkspaces,
  parseCopy,
  parseDockerfile,
  readRepoFile,
  REPO_ROOT,
  traceRuntimeImports,
  type Instruction,
} from './parse.js';

const BASE_IMAGE = 'node:20-bookworm-slim';
const stages = dockerStages(parseDockerfile(readRepoFile('Dockerfile')));
const deps = stages.find((s) => s.name === 'deps');
const runtime = stages.at(-1);
const workspaces = listWorkspaces();
const rootPackage = JSON.parse(readRepoFile('package.json')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const only = (instructions: Instruction[] | undefined, keyword: string) => (instructions ?? []).filter((i) => i.keyword === keyword);
const last = (instructions: Instruction[] | undefined, keyword: string) => only(instructions, keyword).at(-1);

/** Every process the image runs: the services (compose commands) and the CLI (migrate). */
const ENTRY_FILES = [
  'apps/writer/src/main.ts',
  'apps/dashboard/src/main.ts',
  'apps/ingest-crypto/src/main.ts',
  'apps/ingest-stock/src/main.ts',
  'apps/ingest-macro/src/main.ts',
  'tools/cli/src/main.ts',
];

function filesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(REPO_ROOT.length).replaceAll('\\', '/'));
}

describe('Dockerfile', () => {
  it(`builds every stage from ${BASE_IMAGE}`, () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toBe(BASE_IMAGE);
  });

  it('installs production dependencies from the manifests alone, before any source is copied', () => {
    expect(deps, 'a stage named deps').toBeDefined();
    const instructions = deps?.instructions ?? [];
    const install = instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(install, 'RUN npm ci').toBeGreaterThan(-1);
    expect(instructions[install]?.args).toContain('--omit=dev');
    const copied = instructions
      .slice(0, install)
      .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
      .flatMap((i) => {
        const { sources, dest } = parseCopy(i.args);
        // `COPY a/package.json a/` keeps the path; anything else would flatten it.
        for (const src of sources) {
          if (src.endsWith('/package.json') && src !== 'package.json') expect(dest, src).toBe(src.slice(0, -'package.json'.length));
        }
        return sources;
      });
    const expected = ['package.json', 'package-lock.json', ...workspaces.map((w) => `${w.dir}/package.json`)];
    // Every workspace's package.json, or npm ci cannot link it; nothing else, or the cache breaks on every edit.
    expect([...copied].sort()).toEqual([...expected].sort());
  });

  it('runs as the unprivileged node user with NODE_ENV=production', () => {
    expect(last(runtime?.instructions, 'USER')?.args).toBe('node');
    expect(only(runtime?.instructions, 'ENV').map((i) => i.args)).toContain('NODE_ENV=production');
  });

  it('copies node_modules from the deps stage and the sources, migrations included', () => {
    const copies = only(runtime?.instructions, 'COPY').map((i) => parseCopy(i.args));
    expect(copies.some((c) => c.from === 'deps')).toBe(true);
    const sources = copies.filter((c) => !c.from).flatMap((c) => c.sources);
    for (const path of ['package.json', 'apps', 'libs', 'tools']) expect(sources, path).toContain(path);
    expect(existsSync(join(REPO_ROOT, 'libs/db/migrations'))).toBe(true);
  });

  it('runs TypeScript through tsx in one node process, the command picking the service', () => {
    const entrypoint = execForm(last(runtime?.instructions, 'ENTRYPOINT')?.args ?? '');
    expect(entrypoint).toEqual(['node', '--import', 'tsx']);
    const cmd = execForm(last(runtime?.instructions, 'CMD')?.args ?? '');
    expect(cmd).toEqual(['apps/writer/src/main.ts']);
    for (const file of [...cmd, ...ENTRY_FILES]) expect(existsSync(join(REPO_ROOT, file)), file).toBe(true);
    expect(rootPackage.dependencies.tsx, 'tsx is a runtime dependency (npm ci --omit=dev keeps it)').toBeDefined();
  });

  it('has a HEALTHCHECK on /readyz at HEALTH_PORT that needs no curl', () => {
    const healthcheck = last(runtime?.instructions, 'HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toContain('/readyz');
    expect(healthcheck).toContain('HEALTH_PORT');
    expect(healthcheck).toContain('9101');
    const cmd = /\bCMD\s+(\[.*\])\s*$/s.exec(healthcheck)?.[1];
    expect(cmd, 'exec-form CMD').toBeDefined();
    const argv = execForm(cmd ?? '');
    expect(argv[0]).toBe('node');
    expect(healthcheck).not.toMatch(/\b(curl|wget)\b/);
    // The one-liner is valid JavaScript.
    expect(() => new Function(argv[argv.indexOf('-e') + 1] ?? 'syntax error(')).not.toThrow();
  });
});

describe('run-time imports', () => {
  it('are all production dependencies, so npm ci --omit=dev is enough', () => {
    const { files, packages } = traceRuntimeImports(ENTRY_FILES);
    expect(files).toContain('libs/db/src/migrate.ts');
    const missing = packages.filter((p) => !(p in rootPackage.dependencies));
    expect(missing, `imported at run time but not in root "dependencies": ${missing.join(', ')}`).toEqual([]);
    // pino loads its pretty transport by name (LOG_FORMAT=pretty), not through an import.
    expect(rootPackage.dependencies['pino-pretty']).toBeDefined();
    expect(files.filter((f) => /\.spec\.ts$|^libs\/testing\//.test(f))).toEqual([]);
  });
});

describe('.dockerignore', () => {
  const ignored = dockerignoreMatcher(readRepoFile('.dockerignore'));

  it('keeps host artefacts and secrets out of the build context', () => {
    for (const path of [
      'node_modules/zod/package.json',
      'libs/db/node_modules/x/index.js',
      '.git/HEAD',
      '.nx/cache/x',
      'dist/main.js',
      'coverage/index.html',
      'npm-debug.log',
      'apps/writer/debug.log',
      '.env',
      '.env.local',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it('sends everything the image needs', () => {
    const needed = [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.base.json',
      'LICENSE',
      // The `tickvault` command (compose's `cli` service runs it).
      'tools/cli/bin/tickvault.js',
      ...workspaces.map((w) => `${w.dir}/package.json`),
      ...traceRuntimeImports(ENTRY_FILES).files,
      ...filesUnder('libs/db/migrations'),
      // The dashboard's page is served from files, not imported.
      ...filesUnder('apps/dashboard/src/public'),
    ];
    expect(needed.filter((p) => ignored(p))).toEqual([]);
    // Every file the runtime stage COPYs by name exists.
    for (const copy of only(runtime?.instructions, 'COPY').map((i) => parseCopy(i.args)).filter((c) => !c.from)) {
      for (const src of copy.sources) expect(existsSync(join(REPO_ROOT, src)), src).toBe(true);
    }
  });
});

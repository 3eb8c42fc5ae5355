import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICES } from '@tickvault/config';
// eslint-disable-next-line @nx/enforce-module-boundaries -- tools/build is the build script, not a workspace: it bundles the workspaces
import { ENTRIES } from '../../build/build.mjs';
import {
  builtFrom,
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
  type Stage,
} from './parse.js';

const BASE_IMAGE = 'node:26-bookworm-slim';
const stages = dockerStages(parseDockerfile(readRepoFile('Dockerfile')));
const stage = (name: string) => stages.find((s) => s.name === name);
const manifests = stage('manifests');
const deps = stage('deps');
const build = stage('build');
const runtime = stages.at(-1);
const workspaces = listWorkspaces();
const rootPackage = JSON.parse(readRepoFile('package.json')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const only = (instructions: Instruction[] | undefined, keyword: string) => (instructions ?? []).filter((i) => i.keyword === keyword);
const last = (instructions: Instruction[] | undefined, keyword: string) => only(instructions, keyword).at(-1);

/** The TypeScript entry of every process the build bundles into dist/<name>.js (the image runs those files). */
const ENTRY_FILES = Object.values(ENTRIES);
/** A stage and the stages it is built FROM, nearest first. */
const ancestry = (s: Stage | undefined): Stage[] => {
  const chain: Stage[] = [];
  for (let current = s; current && !chain.includes(current); current = stage(current.from)) chain.push(current);
  return chain;
};
const copiesOf = (s: Stage | undefined) => only(s?.instructions, 'COPY').map((i) => parseCopy(i.args));
const npmCi = (s: Stage | undefined) => only(s?.instructions, 'RUN').filter((i) => /\bnpm ci\b/.test(i.args));

function filesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(REPO_ROOT.length).replaceAll('\\', '/'));
}

describe('Dockerfile', () => {
  it('runs the Node release line CI tests on, which package.json engines admits, built and typed for the oldest one admitted', () => {
    const imageMajor = Number(/^node:(\d+)-/.exec(BASE_IMAGE)?.[1]);
    const ciRelease = /^NODE_LTS=(\d+)\.\d+\.\d+$/m.exec(readRepoFile('.ci/run'))?.[1];
    expect(Number(ciRelease), '.ci/run NODE_LTS').toBe(imageMajor);
    const pkg = JSON.parse(readRepoFile('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
    const oldest = Number(/^>=(\d+)$/.exec(pkg.engines.node)?.[1]);
    expect(oldest, `engines ${pkg.engines.node}`).toBeGreaterThanOrEqual(24);
    expect(imageMajor).toBeGreaterThanOrEqual(oldest);
    // Types of the oldest line: code that needs a newer API fails the typecheck instead of a user's start.
    expect(Number(pkg.devDependencies['@types/node']?.split('.')[0])).toBe(oldest);
    expect(readRepoFile('tools/build/build.mjs')).toContain(`target: 'node${oldest}'`);
  });

  it(`builds every stage from ${BASE_IMAGE} or from an earlier stage`, () => {
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['manifests', 'deps', 'build']));
    stages.forEach((s, index) => {
      const earlier = stages.slice(0, index).map((e) => e.name);
      expect(s.from === BASE_IMAGE || earlier.includes(s.from), `${s.name ?? index} FROM ${s.from}`).toBe(true);
    });
    // Every chain ends on the base image.
    for (const s of stages) expect(ancestry(s).at(-1)?.from, s.name).toBe(BASE_IMAGE);
  });

  it('copies the package manifests alone into the stage both installs start from', () => {
    expect(manifests, 'a stage named manifests').toBeDefined();
    expect(manifests?.from).toBe(BASE_IMAGE);
    expect(only(manifests?.instructions, 'RUN'), 'nothing runs there').toEqual([]);
    expect(only(manifests?.instructions, 'ADD')).toEqual([]);
    const copied = copiesOf(manifests).flatMap(({ from, sources, dest }) => {
      expect(from, 'from the build context').toBeUndefined();
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

  it('installs production dependencies from the manifests alone (deps: npm ci --omit=dev, no source copied)', () => {
    expect(deps, 'a stage named deps').toBeDefined();
    expect(ancestry(deps).map((s) => s.name)).toContain('manifests');
    // Only the manifests stage copies anything into the chain, so the install is reused until a dependency changes.
    for (const s of ancestry(deps).filter((a) => a !== manifests)) expect(copiesOf(s), s.name).toEqual([]);
    const installs = npmCi(deps);
    expect(installs, 'one RUN npm ci').toHaveLength(1);
    expect(installs[0]?.args).toContain('--omit=dev');
  });

  it('builds dist/ in a build stage: all dependencies from the manifests, then the sources, then the build', () => {
    expect(build, 'a stage named build').toBeDefined();
    expect(ancestry(build).map((s) => s.name)).toContain('manifests');
    expect(ancestry(build).map((s) => s.name), 'not on top of production-only node_modules').not.toContain('deps');
    const instructions = build?.instructions ?? [];
    const installs = npmCi(build);
    expect(installs, 'one RUN npm ci').toHaveLength(1);
    expect(installs[0]?.args, 'the build needs the dev dependencies (esbuild)').not.toContain('--omit');
    const install = instructions.indexOf(installs[0] as Instruction);
    const buildRun = instructions.findIndex((i) => i.keyword === 'RUN' && /\bnode tools\/build\/build\.mjs\b|\bnpm run build\b/.test(i.args));
    expect(buildRun, 'RUN node tools/build/build.mjs').toBeGreaterThan(-1);
    expect(existsSync(join(REPO_ROOT, 'tools/build/build.mjs'))).toBe(true);
    const copied = (from: number, to: number) =>
      instructions.slice(from, to).filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD').flatMap((i) => parseCopy(i.args).sources);
    // Sources after the install, so a source edit does not reinstall; all of them before the build.
    expect(copied(0, install), 'nothing but the manifests before npm ci').toEqual([]);
    const sources = copied(install, buildRun);
    for (const path of ['apps', 'libs', 'tools']) expect(sources, path).toContain(path);
    // esbuild reads tsconfig.json (and the base it extends) for the TypeScript settings.
    expect(sources.some((src) => src === 'tsconfig.json' || src === 'tsconfig*.json'), 'tsconfig.json').toBe(true);
  });

  it('runs as the unprivileged node user with NODE_ENV=production', () => {
    expect(last(runtime?.instructions, 'USER')?.args).toBe('node');
    expect(only(runtime?.instructions, 'ENV').map((i) => i.args)).toContain('NODE_ENV=production');
  });

  it('copies node_modules from the deps stage, the sources (migrations included) and dist/ from the build stage', () => {
    expect(runtime?.name, 'the last stage is the image').toBe('runtime');
    const copies = copiesOf(runtime);
    expect(copies.some((c) => c.from === 'deps')).toBe(true);
    // The bundles find files through their source folders (../libs/db/migrations from dist/), so dist/ sits in /app beside them.
    expect(only(runtime?.instructions, 'WORKDIR').map((i) => i.args)).toEqual(['/app']);
    // dist/ and nothing else from the build stage: its node_modules holds the dev dependencies.
    expect(copies.filter((c) => c.from === 'build')).toEqual([{ from: 'build', sources: ['/app/dist'], dest: './dist' }]);
    const sources = copies.filter((c) => !c.from).flatMap((c) => c.sources);
    for (const path of ['package.json', 'apps', 'libs', 'tools']) expect(sources, path).toContain(path);
    expect(sources, 'dist/ comes from the build stage, never from the host').not.toContain('dist');
    expect(existsSync(join(REPO_ROOT, 'libs/db/migrations'))).toBe(true);
  });

  it('runs the built JavaScript in one node process, the command picking the service', () => {
    const entrypoint = execForm(last(runtime?.instructions, 'ENTRYPOINT')?.args ?? '');
    expect(entrypoint).toEqual(['node']);
    const cmd = execForm(last(runtime?.instructions, 'CMD')?.args ?? '');
    expect(cmd).toEqual(['dist/writer.js']);
    expect(builtFrom(cmd[0]), `${cmd[0]} is the build of the writer's entry`).toBe(SERVICES.writer.entry);
    for (const file of ENTRY_FILES) expect(existsSync(join(REPO_ROOT, file)), file).toBe(true);
    // No TypeScript at run time: tsx (development, `npx tickvault` in a checkout) is not installed in the image.
    expect(rootPackage.dependencies.tsx, 'tsx is not a runtime dependency').toBeUndefined();
    expect(rootPackage.devDependencies.tsx).toBeDefined();
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
      // The build stage runs it.
      'tools/build/build.mjs',
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

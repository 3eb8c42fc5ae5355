#!/usr/bin/env node
// Builds every process tickvault runs into plain JavaScript under dist/ (one ESM file each, with a source
// map), so production starts with `node dist/<name>.js` and pays no TypeScript transpiling at start-up.
// Development and the tests keep running the TypeScript through tsx.
//
// Bundled: our own workspaces (@tickvault/*, TypeScript sources). Left to node_modules: every npm
// package (native parts, files they read next to themselves, and Bull Board's UI assets stay where
// their authors put them).
//
// A module that finds files next to itself (migrations, the dashboard's public folder) reads
// `import.meta.url`; in a bundle that would be the bundle's own URL, so each source file's
// `import.meta.url` is rewritten to its own location, relative to the bundle: dist/ must stay inside
// the repository (the image keeps it at /app/dist beside the sources).
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = path.join(ROOT, 'dist');

/** Output name → TypeScript entry. The services' entries match SERVICES in libs/config/src/services.ts (a test checks). */
export const ENTRIES = {
  writer: 'apps/writer/src/main.ts',
  'ingest-crypto': 'apps/ingest-crypto/src/main.ts',
  'ingest-stock': 'apps/ingest-stock/src/main.ts',
  'ingest-macro': 'apps/ingest-macro/src/main.ts',
  dashboard: 'apps/dashboard/src/main.ts',
  scheduler: 'apps/scheduler/src/main.ts',
  cli: 'tools/cli/src/main.ts',
  'fake-feeds': 'tools/fake-feeds/src/main.ts',
};

const ownSourceUrls = {
  name: 'own-source-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      let contents = await readFile(args.path, 'utf8');
      if (contents.includes('import.meta.url')) {
        const relative = path.relative(OUT_DIR, args.path).split(path.sep).join('/');
        contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(relative)}, import.meta.url).href`);
      }
      return { contents, loader: 'ts' };
    });
  },
};

const npmPackagesExternal = {
  name: 'npm-packages-external',
  setup(b) {
    // Bare specifiers that are not our workspaces: node_modules at run time.
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@tickvault/') || args.path.startsWith('node:') ? undefined : { path: args.path, external: true }));
  },
};

export async function buildAll({ quiet = false } = {}) {
  const started = performance.now();
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, entry]) => [name, entry])),
    outdir: OUT_DIR,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // The oldest Node the package supports (package.json engines).
    target: 'node24',
    sourcemap: true,
    // Stack traces and logs name our functions and classes as written.
    keepNames: true,
    // The CLI and the services check this to spawn dist/*.js with plain node instead of TypeScript through tsx.
    define: { 'process.env.TICKVAULT_BUILT': '"1"' },
    // Shared chunks would tie the files together; each process is one file, loaded once.
    splitting: false,
    logLevel: quiet ? 'error' : 'warning',
    plugins: [npmPackagesExternal, ownSourceUrls],
    metafile: true,
    // Written below, each file replaced whole: a process starting from dist/ while another build runs
    // (a test, a second `npm start`) never reads a half-written or missing file.
    write: false,
  });
  await mkdir(OUT_DIR, { recursive: true });
  for (const file of result.outputFiles) {
    const partial = `${file.path}.${process.pid}.partial`;
    await writeFile(partial, file.contents);
    await rename(partial, file.path);
  }
  // Files of entries that no longer exist.
  const written = new Set(result.outputFiles.map((f) => path.basename(f.path)));
  for (const name of await readdir(OUT_DIR)) {
    if (!written.has(name) && !name.endsWith('.partial')) await rm(path.join(OUT_DIR, name), { force: true });
  }
  const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
  if (!quiet) {
    for (const [file, info] of outputs) process.stdout.write(`${file}  ${(info.bytes / 1024).toFixed(0)} KiB\n`);
    process.stdout.write(`built ${outputs.length} files in ${Math.round(performance.now() - started)} ms\n`);
  }
  return outputs.map(([file]) => file);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await buildAll({ quiet: process.argv.includes('--quiet') }).catch((error) => {
    process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

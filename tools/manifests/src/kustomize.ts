import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseYamlDocuments, readRepoFile, REPO_ROOT } from './parse.js';

/**
 * Real kustomize builds of infra/k8s through `kubectl kustomize`. KUBECTL names the binary (default
 * `kubectl` on PATH); .ci/run installs one when the machine has none that builds these manifests.
 */

export const KUBECTL = process.env.KUBECTL ?? 'kubectl';
/** `labels:` with includeTemplates and `patches:` with a target need kustomize v5 (kubectl 1.27+). */
const MIN_KUSTOMIZE_MAJOR = 5;
const K8S_DIR = 'infra/k8s';

/** The kustomize version of KUBECTL, or why it cannot build these manifests. */
export function kubectlStatus(): { ok: true; kustomize: string } | { ok: false; problem: string } {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return { ok: false, problem: `${KUBECTL} did not run: ${(error as Error).message.split('\n')[0]}` };
  }
  const kustomize = (JSON.parse(out) as { kustomizeVersion?: string }).kustomizeVersion ?? '';
  const major = Number(/^v(\d+)\./.exec(kustomize)?.[1] ?? 0);
  if (major < MIN_KUSTOMIZE_MAJOR) return { ok: false, problem: `${KUBECTL} has kustomize ${kustomize || 'unknown'}; these manifests need v${MIN_KUSTOMIZE_MAJOR} or newer (kubectl 1.27+)` };
  return { ok: true, kustomize };
}

/** infra/k8s/base and every overlay folder, as repository paths. */
export function kustomizations(): string[] {
  const overlays = join(REPO_ROOT, K8S_DIR, 'overlays');
  const names = existsSync(overlays) ? readdirSync(overlays, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
  return [`${K8S_DIR}/base`, ...names.map((n) => `${K8S_DIR}/overlays/${n}`)];
}

/**
 * `kubectl kustomize` of one kustomization, from a copy of infra/k8s in which every secretGenerator
 * env file is its committed `.example` (the real ones are gitignored and never read here), as a
 * user who follows the README's first step would have it. `extraResources` (repository paths, such as
 * infra/k8s/examples/*.yaml) are copied next to the kustomization and added to its `resources`, as the
 * examples tell a user to do in their own overlay.
 */
export function kustomizeBuild(dir: string, extraResources: readonly string[] = []): Record<string, unknown>[] {
  const scratch = mkdtempSync(join(tmpdir(), 'tickvault-kustomize-'));
  try {
    const copy = join(scratch, 'k8s');
    cpSync(join(REPO_ROOT, K8S_DIR), copy, { recursive: true });
    const relative = posix.relative(K8S_DIR, dir);
    const kustomization = parseYaml(readRepoFile(`${dir}/kustomization.yaml`)) as { secretGenerator?: { envs?: string[] }[]; resources?: string[] };
    for (const file of (kustomization.secretGenerator ?? []).flatMap((g) => g.envs ?? [])) {
      cpSync(join(copy, relative, `${file}.example`), join(copy, relative, file));
    }
    if (extraResources.length > 0) {
      for (const file of extraResources) cpSync(join(REPO_ROOT, file), join(copy, relative, basename(file)));
      const resources = [...(kustomization.resources ?? []), ...extraResources.map((f) => basename(f))];
      writeFileSync(join(copy, relative, 'kustomization.yaml'), stringifyYaml({ ...kustomization, resources }));
    }
    const out = execFileSync(KUBECTL, ['kustomize', join(copy, relative)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 32 * 2 ** 20 });
    return parseYamlDocuments(out) as Record<string, unknown>[];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

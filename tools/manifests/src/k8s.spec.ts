import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ENV, loadConfig, selectedShards, SERVICES, type EnvName } from '@tickvault/config';
import { kubectlStatus, kustomizations, kustomizeBuild } from './kustomize.js';
import { access, cidrContains, rulePeers, rulePorts, type NetworkPolicy, type PolicyPeer } from './network-policy.js';
import { builtFrom, parseDotenv, parseYamlDocuments, quantity, readRepoFile, REPO_ROOT } from './parse.js';

/**
 * Checks of the kustomize base and example overlay in infra/k8s, without a cluster. Most read the
 * files, resolving here the parts of a kustomize build they need (resources, the ConfigMap generator
 * with an overlay's merge, JSON 6902 patches); the `kubectl kustomize` block at the end builds every
 * kustomization for real and checks the result (network policies, security contexts, references).
 */

const BASE = 'infra/k8s/base';
const OVERLAY = 'infra/k8s/overlays/example';
/** The long-running services this base deploys: every entry of SERVICES. */
const DEPLOYED = ['writer', 'ingest-crypto', 'ingest-stock', 'ingest-macro', 'scheduler', 'dashboard'] as const;
type Deployed = (typeof DEPLOYED)[number];
const CONFIG_MAP = 'tickvault-config';
const SECRET = 'tickvault-secrets';
const IMAGE = 'tickvault';
/** Variables whose values are credentials (URLs with passwords): only ever from the Secret. */
const SECRET_VARS = Object.entries(ENV)
  .filter(([, spec]) => (spec as { secret?: string }).secret !== undefined)
  .map(([name]) => name);
// Stand-ins for the Secret's values when the config loaders are run on the manifests.
const DUMMY_SECRETS: Record<string, string> = {
  DATABASE_URL: 'postgres://tickvault:dummy@postgres.test:5432/tickvault',
  REDIS_URL: 'redis://:dummy@redis.test:6379',
  ALPACA_KEY_ID: 'PKDUMMYKEY0001',
  ALPACA_SECRET_KEY: 'dummy-secret-key-0000000000',
  FRED_API_KEY: 'abcdefghijklmnopqrstuvwxyz012345',
  DASHBOARD_PASSWORD: 'dummy-password-0000',
  DASHBOARD_TOKEN: 'dummy-token-000000000000',
  DASHBOARD_DATABASE_URL: 'postgres://tickvault_reader:dummy@postgres-replica.test:5432/tickvault',
  DATABASE_READ_URL: 'postgres://tickvault_reader:dummy@postgres-replica.test:5432/tickvault',
};
/** Set in each container with its ports, not in the ConfigMap. */
const PER_CONTAINER = ['HEALTH_PORT', 'DASHBOARD_HOST', 'DASHBOARD_PORT'];
/** The example Ingress of the dashboard: not applied by any kustomization, copied into an overlay by the user. */
const DASHBOARD_INGRESS = 'infra/k8s/examples/dashboard-ingress.yaml';
/** The ingress controller's namespace that base/network-policies.yaml lets reach the dashboard's port `http`. */
const INGRESS_CONTROLLER: PolicyPeer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } };

// --- the few Kubernetes shapes these checks read ----------------------------------------------------

interface Meta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec?: unknown;
  [key: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; runAsUser?: number };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; emptyDir?: unknown }[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
interface Deployment extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate };
}
interface Job extends K8sObject {
  spec: { backoffLimit?: number; ttlSecondsAfterFinished?: number; template: PodTemplate };
}
interface Service extends K8sObject {
  spec: { type?: string; selector: Record<string, string>; publishNotReadyAddresses?: boolean; ports: { name?: string; port: number; targetPort?: string | number }[] };
}
interface Ingress extends K8sObject {
  spec: {
    ingressClassName?: string;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: { host?: string; http?: { paths: { path?: string; pathType?: string; backend: { service?: { name: string; port: { name?: string; number?: number } } } }[] } }[];
  };
}
interface Pdb extends K8sObject {
  spec: { minAvailable?: number | string; maxUnavailable?: number | string; selector: { matchLabels: Record<string, string> } };
}
interface ScaledObject extends K8sObject {
  spec: {
    scaleTargetRef: { apiVersion?: string; kind?: string; name: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers: { type: string; metricType?: string; metadata: Record<string, string> }[];
  };
}
interface Generator {
  name: string;
  behavior?: 'create' | 'merge' | 'replace';
  envs?: string[];
  literals?: string[];
  files?: string[];
}
interface Kustomization {
  namespace?: string;
  resources?: string[];
  configurations?: string[];
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { path?: string; patch?: string; target?: { kind?: string; name?: string; group?: string; version?: string } }[];
}

// --- reading a kustomization --------------------------------------------------------------------------

const readKustomization = (dir: string): Kustomization => parseYaml(readRepoFile(`${dir}/kustomization.yaml`)) as Kustomization;
const isFile = (path: string) => existsSync(join(REPO_ROOT, path)) && statSync(join(REPO_ROOT, path)).isFile();
const isDir = (path: string) => existsSync(join(REPO_ROOT, path)) && statSync(join(REPO_ROOT, path)).isDirectory();

/** The objects a kustomization's `resources` list (files, and directories that are kustomizations), before generators and patches. */
function loadResources(dir: string): K8sObject[] {
  return (readKustomization(dir).resources ?? []).flatMap((entry) => {
    const path = posix.normalize(posix.join(dir, entry));
    if (isDir(path)) return loadResources(path);
    // A missing file is reported by the existence check below, with its name.
    return isFile(path) ? (parseYamlDocuments(readRepoFile(path)) as K8sObject[]) : [];
  });
}

/** KEY=value pairs of a generator: its env files, then its literals. */
function generatorData(dir: string, generator: Generator): Record<string, string> {
  const data: Record<string, string> = {};
  for (const file of generator.envs ?? []) for (const { key, value } of parseDotenv(readRepoFile(posix.join(dir, file)))) data[key] = value;
  for (const literal of generator.literals ?? []) {
    const eq = literal.indexOf('=');
    if (eq < 1) throw new Error(`not a KEY=value literal: ${literal}`);
    data[literal.slice(0, eq)] = literal.slice(eq + 1);
  }
  return data;
}

/** The data of the generated ConfigMap `name` after the base and, when given, an overlay merging into it. */
function configMapData(dirs: string[], name: string): Record<string, string> {
  let data: Record<string, string> = {};
  for (const dir of dirs) {
    for (const generator of readKustomization(dir).configMapGenerator ?? []) {
      if (generator.name !== name) continue;
      const own = generatorData(dir, generator);
      data = generator.behavior === 'merge' ? { ...data, ...own } : own;
    }
  }
  return data;
}

/** JSON 6902 `replace`, `add` and `test`, as kustomize applies them; a `replace` of a missing path fails as it does there. */
function applyJsonPatch<T>(target: T, ops: { op: string; path: string; value?: unknown }[]): T {
  const copy = structuredClone(target) as unknown;
  for (const { op, path, value } of ops) {
    const keys = path.split('/').slice(1).map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop();
    if (last === undefined) throw new Error(`bad path ${path}`);
    let node = copy as Record<string, unknown>;
    for (const key of keys) {
      const next = node[key];
      if (next === null || typeof next !== 'object') throw new Error(`${op} ${path}: ${key} does not exist`);
      node = next as Record<string, unknown>;
    }
    if (op === 'replace' || op === 'test') {
      if (!(last in node)) throw new Error(`${op} ${path}: no such value to ${op}`);
      if (op === 'test') expect(node[last], path).toEqual(value);
      else node[last] = value;
    } else if (op === 'add') {
      if (Array.isArray(node) && last === '-') node.push(value);
      else node[last] = value;
    } else {
      throw new Error(`op ${op} is not handled by this check`);
    }
  }
  return copy as T;
}

// --- the objects ----------------------------------------------------------------------------------------

const baseKustomization = readKustomization(BASE);
const overlayKustomization = readKustomization(OVERLAY);
const baseObjects = loadResources(BASE);
const ofKind = <T extends K8sObject>(kind: string) => baseObjects.filter((o) => o.kind === kind) as T[];
const deployments = ofKind<Deployment>('Deployment');
const jobs = ofKind<Job>('Job');
const services = ofKind<Service>('Service');
const pdbs = ofKind<Pdb>('PodDisruptionBudget');
const scaledObjects = ofKind<ScaledObject>('ScaledObject');

const baseConfig = configMapData([BASE], CONFIG_MAP);
const overlayConfig = configMapData([BASE, OVERLAY], CONFIG_MAP);
const secretKeys = {
  example: Object.keys((parseYaml(readRepoFile(`${BASE}/secret.example.yaml`)) as { stringData: Record<string, string> }).stringData),
  overlay: parseDotenv(readRepoFile(`${OVERLAY}/secrets.env.example`)).map((e) => e.key),
};

const deploymentOf = (service: Deployed): Deployment => {
  const found = deployments.filter((d) => d.spec.template.spec.containers.some((c) => c.name === service));
  expect(found.map((d) => d.metadata.name), `one Deployment runs ${service}`).toHaveLength(1);
  return found[0] as Deployment;
};
const containerOf = (service: Deployed): Container => {
  const container = deploymentOf(service).spec.template.spec.containers.find((c) => c.name === service);
  if (!container) throw new Error(`no container ${service}`);
  return container;
};
const podSpecs = (): { what: string; spec: PodSpec }[] => [
  ...deployments.map((d) => ({ what: `Deployment ${d.metadata.name}`, spec: d.spec.template.spec })),
  ...jobs.map((j) => ({ what: `Job ${j.metadata.name}`, spec: j.spec.template.spec })),
];
const allContainers = (): { what: string; container: Container }[] =>
  podSpecs().flatMap(({ what, spec }) => [...(spec.initContainers ?? []), ...spec.containers].map((container) => ({ what: `${what}/${container.name}`, container })));
const literalEnv = (c: Container): Record<string, string> => Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** The environment a container gets: the ConfigMap through envFrom, then its own env (which wins), secrets as dummies. */
function containerEnv(c: Container, config: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of c.envFrom ?? []) {
    if (source.configMapRef) {
      expect(source.configMapRef.name, 'envFrom ConfigMap').toBe(CONFIG_MAP);
      Object.assign(env, config);
    }
    if (source.secretRef) {
      expect(source.secretRef.name, 'envFrom Secret').toBe(SECRET);
      for (const key of secretKeys.overlay) env[key] = DUMMY_SECRETS[key] ?? 'dummy';
    }
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) env[e.name] = DUMMY_SECRETS[ref.key] ?? 'dummy';
    const cmRef = e.valueFrom?.configMapKeyRef;
    if (cmRef) env[e.name] = config[cmRef.key] ?? '';
  }
  return env;
}

/** The port number a probe or Service targets: a number, or the name of one of the container's ports. */
function resolvePort(c: Container, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

// --- the checks -----------------------------------------------------------------------------------------

describe('infra/k8s kustomizations', () => {
  for (const [dir, k] of [[BASE, baseKustomization], [OVERLAY, overlayKustomization]] as const) {
    it(`${dir}: every resource, generator source, patch and configuration exists`, () => {
      for (const entry of k.resources ?? []) {
        const path = posix.normalize(posix.join(dir, entry));
        expect(isFile(path) || isFile(`${path}/kustomization.yaml`), `${dir} resource ${entry}`).toBe(true);
      }
      for (const file of [...(k.configurations ?? []), ...(k.patches ?? []).flatMap((p) => (p.path ? [p.path] : []))]) {
        expect(isFile(posix.join(dir, file)), `${dir}: ${file}`).toBe(true);
      }
      for (const generator of k.configMapGenerator ?? []) {
        for (const file of [...(generator.envs ?? []), ...(generator.files ?? [])]) expect(isFile(posix.join(dir, file)), `${dir}: ${file}`).toBe(true);
      }
      // Secret sources hold real credentials: gitignored, with a committed example beside them.
      const ignored = isFile(`${dir}/.gitignore`) ? readRepoFile(`${dir}/.gitignore`).split(/\r?\n/).map((l) => l.trim()) : [];
      for (const generator of k.secretGenerator ?? []) {
        expect(generator.literals ?? [], `${dir}: no literal secrets in a kustomization`).toEqual([]);
        for (const file of [...(generator.envs ?? []), ...(generator.files ?? [])]) {
          expect(ignored, `${dir}/.gitignore lists ${file}`).toContain(file);
          expect(isFile(posix.join(dir, `${file}.example`)), `${dir}: ${file}.example`).toBe(true);
        }
      }
    });
  }

  it('the base ships no Secret, no Namespace and no database or Redis of its own', () => {
    expect(baseKustomization.secretGenerator ?? []).toEqual([]);
    const kinds = new Set(baseObjects.map((o) => o.kind));
    for (const kind of ['Secret', 'Namespace', 'StatefulSet', 'PersistentVolumeClaim']) expect(kinds.has(kind), kind).toBe(false);
    for (const { what, container } of allContainers()) expect(container.image, what).toBe(IMAGE);
    expect(baseKustomization.images?.map((i) => i.name)).toEqual([IMAGE]);
  });

  it('resolves every base resource to a well-formed object with a unique kind and name', () => {
    const seen = new Set<string>();
    for (const o of baseObjects) {
      expect(o.apiVersion, JSON.stringify(o.metadata)).toBeTruthy();
      expect(o.metadata?.name, o.kind).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      const id = `${o.kind}/${o.metadata.name}`;
      expect(seen.has(id), id).toBe(false);
      seen.add(id);
      expect(o.metadata.labels?.['app.kubernetes.io/name'], id).toBe('tickvault');
    }
  });
});

describe('Deployments', () => {
  it('run each service once, with the build of its SERVICES entry as the args of the image entrypoint', () => {
    expect([...DEPLOYED].sort(), 'every long-running service of SERVICES').toEqual(Object.keys(SERVICES).sort());
    for (const service of DEPLOYED) {
      const deployment = deploymentOf(service);
      const c = containerOf(service);
      expect(c.command, `${service} keeps the image's node entrypoint`).toBeUndefined();
      expect(c.args, service).toEqual([`dist/${service}.js`]);
      // A file the build writes (tools/build/build.mjs ENTRIES), bundled from the service's entry.
      expect(builtFrom(c.args?.[0]), `${service}: ${c.args?.[0]} is built from SERVICES entry`).toBe(SERVICES[service].entry);
      expect(isFile(SERVICES[service].entry), `${SERVICES[service].entry} exists`).toBe(true);
      expect(deployment.spec.template.metadata?.labels?.['app.kubernetes.io/component'], service).toBe(service);
    }
    // Nothing else: every Deployment runs one known service.
    for (const d of deployments) {
      expect(d.spec.template.spec.containers.map((c) => c.name), d.metadata.name).toHaveLength(1);
      expect(DEPLOYED as readonly string[], d.metadata.name).toContain(d.spec.template.spec.containers[0]?.name);
      // The selector picks this Deployment's pods and nobody else's.
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata?.labels), d.metadata.name).toBe(true);
      for (const other of deployments.filter((o) => o !== d)) {
        expect(matches(d.spec.selector.matchLabels, other.spec.template.metadata?.labels), `${d.metadata.name} vs ${other.metadata.name}`).toBe(false);
      }
    }
  });

  it('every container, the Job included, runs a file the build writes through the image entrypoint', () => {
    for (const { what, container } of allContainers()) {
      expect(container.command, `${what} keeps the image's node entrypoint`).toBeUndefined();
      expect(builtFrom(container.args?.[0]), `${what}: ${container.args?.[0]} is dist/<name>.js with <name> in ENTRIES`).toBeDefined();
    }
  });

  it('set only variables of the ENV registry, and the ConfigMap holds only such keys', () => {
    for (const { what, container } of allContainers()) {
      const unknown = (container.env ?? []).map((e) => e.name).filter((n) => !(n in ENV));
      expect(unknown, what).toEqual([]);
    }
    expect(Object.keys(baseConfig).filter((k) => !(k in ENV))).toEqual([]);
    expect(Object.keys(overlayConfig).filter((k) => !(k in ENV))).toEqual([]);
  });

  it('ConfigMap: every non-secret variable the services read, at its registry default (LOG_FORMAT=json)', () => {
    const read = new Set(DEPLOYED.flatMap((s) => SERVICES[s].env as readonly string[]));
    const expected = [...read].filter((n) => !SECRET_VARS.includes(n) && !PER_CONTAINER.includes(n));
    expect(expected.filter((n) => !(n in baseConfig)), `read by ${DEPLOYED.join(', ')}: add to ${BASE}/config.env`).toEqual([]);
    expect(Object.keys(baseConfig).filter((n) => !expected.includes(n)), `in ${BASE}/config.env but read by none of them`).toEqual([]);
    for (const [name, value] of Object.entries(baseConfig)) {
      const fallback = (ENV[name as EnvName] as { default?: string }).default;
      expect(value, name).toBe(name === 'LOG_FORMAT' ? 'json' : fallback);
    }
  });

  for (const [label, config] of [['base', baseConfig], ['overlays/example', overlayConfig]] as const) {
    it(`each container's environment passes its service's config loader (${label})`, () => {
      for (const service of DEPLOYED) {
        const c = containerOf(service);
        const env = containerEnv(c, config);
        const names = SERVICES[service].env as readonly EnvName[];
        // Every variable the service reads is given, so nothing silently falls back to a code default.
        expect(names.filter((n) => !(n in env)), `${service}: variables not given`).toEqual([]);
        const loaded = loadConfig(service, names, env);
        expect(loaded.HEALTH_PORT, service).toBe(SERVICES[service].healthPort);
        expect(loaded.LOG_FORMAT, service).toBe('json');
      }
      for (const job of jobs) {
        const c = job.spec.template.spec.containers[0] as Container;
        // tools/cli/src/commands/migrate.ts reads DATABASE_URL only.
        expect(loadConfig('migrate', ['DATABASE_URL'], containerEnv(c, config)).DATABASE_URL).toBe(DUMMY_SECRETS.DATABASE_URL);
      }
    });
  }

  it('keep secrets out of ConfigMaps and manifests: DATABASE_URL and REDIS_URL come from the Secret only', () => {
    for (const name of SECRET_VARS) {
      expect(name in baseConfig, `${name} in the ConfigMap`).toBe(false);
      expect(name in overlayConfig, `${name} in the overlay's ConfigMap`).toBe(false);
    }
    for (const { what, container } of allContainers()) {
      for (const e of container.env ?? []) {
        if (SECRET_VARS.includes(e.name)) {
          expect(e.value, `${what} ${e.name} inline`).toBeUndefined();
          expect(e.valueFrom?.secretKeyRef, `${what} ${e.name} from a secretKeyRef`).toMatchObject({ name: SECRET, key: e.name });
        }
        if (e.valueFrom?.secretKeyRef) {
          expect(secretKeys.example, `${what}: secret.example.yaml has ${e.valueFrom.secretKeyRef.key}`).toContain(e.valueFrom.secretKeyRef.key);
          expect(secretKeys.overlay, `${what}: secrets.env.example has ${e.valueFrom.secretKeyRef.key}`).toContain(e.valueFrom.secretKeyRef.key);
        }
      }
    }
    // No URL with a password anywhere but the Secret examples (whose passwords are placeholders).
    const withPassword = /[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:[^\s/@]+@/i;
    for (const o of baseObjects) expect(JSON.stringify(o), `${o.kind}/${o.metadata.name}`).not.toMatch(withPassword);
    for (const [key, value] of Object.entries(overlayConfig)) expect(value, key).not.toMatch(withPassword);
    for (const key of [...secretKeys.example, ...secretKeys.overlay]) expect(SECRET_VARS, key).toContain(key);
    const examples = [readRepoFile(`${BASE}/secret.example.yaml`), readRepoFile(`${OVERLAY}/secrets.env.example`)];
    for (const text of examples) for (const m of text.matchAll(/:\/\/[^\s/@]*:([^\s/@]+)@/g)) expect(m[1]).toBe('CHANGE-ME');
  });

  it('give each container only the secrets its service reads', () => {
    for (const service of DEPLOYED) {
      const c = containerOf(service);
      expect(c.envFrom?.some((s) => s.secretRef) ?? false, `${service}: secrets by key, not the whole Secret`).toBe(false);
      const secrets = (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name).sort();
      expect(secrets, service).toEqual(SECRET_VARS.filter((n) => (SERVICES[service].env as readonly string[]).includes(n)).sort());
    }
  });

  it('probe /livez and /readyz on the HEALTH_PORT set for the container, after a startup allowance', () => {
    const startupWait = Number(baseConfig.STARTUP_WAIT_SECONDS);
    for (const service of DEPLOYED) {
      const c = containerOf(service);
      const port = Number(literalEnv(c).HEALTH_PORT);
      expect(port, `${service} sets HEALTH_PORT literally`).toBe(SERVICES[service].healthPort);
      expect(c.ports?.find((p) => p.name === 'health')?.containerPort, `${service} port "health"`).toBe(port);
      expect(c.livenessProbe?.httpGet?.path, service).toBe('/livez');
      expect(c.readinessProbe?.httpGet?.path, service).toBe('/readyz');
      expect(c.startupProbe?.httpGet?.path, service).toBe('/livez');
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(resolvePort(c, probe?.httpGet?.port), service).toBe(port);
      // The health server starts after the dependencies answered; the writer waits for Postgres and
      // then Redis, each up to STARTUP_WAIT_SECONDS. Liveness must not kill it during that.
      const window = (c.startupProbe?.periodSeconds ?? 10) * (c.startupProbe?.failureThreshold ?? 3);
      expect(window, `${service} startup probe window`).toBeGreaterThan(2 * startupWait);
      const annotations = deploymentOf(service).spec.template.metadata?.annotations ?? {};
      expect(annotations['prometheus.io/port'], `${service} metrics port annotation`).toBe(String(port));
    }
  });

  it('have a Service each, exposing the health port as `health`', () => {
    for (const service of DEPLOYED) {
      const deployment = deploymentOf(service);
      const port = SERVICES[service].healthPort;
      const found = services.filter((s) => matches(s.spec.selector, deployment.spec.template.metadata?.labels));
      expect(found.map((s) => s.metadata.name), service).toEqual([service]);
      const health = found[0]?.spec.ports.find((p) => p.name === 'health');
      expect(health?.port, service).toBe(port);
      expect(resolvePort(containerOf(service), health?.targetPort ?? health?.port), service).toBe(port);
      for (const other of deployments.filter((d) => d !== deployment)) {
        expect(matches(found[0]?.spec.selector ?? {}, other.spec.template.metadata?.labels), `${service} Service vs ${other.metadata.name}`).toBe(false);
      }
    }
  });

  it('outlast the graceful drain: terminationGracePeriodSeconds > SHUTDOWN_TIMEOUT_SECONDS', () => {
    const fallback = Number((ENV.SHUTDOWN_TIMEOUT_SECONDS as { default: string }).default);
    for (const d of deployments) {
      const grace = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      expect(d.spec.template.spec.terminationGracePeriodSeconds, d.metadata.name).toBe(30);
      expect(grace, `${d.metadata.name} vs the registry default`).toBeGreaterThan(fallback);
      expect(grace, `${d.metadata.name} vs the base ConfigMap`).toBeGreaterThan(Number(baseConfig.SHUTDOWN_TIMEOUT_SECONDS));
      expect(grace, `${d.metadata.name} vs the overlay ConfigMap`).toBeGreaterThan(Number(overlayConfig.SHUTDOWN_TIMEOUT_SECONDS));
    }
  });

  it('run as the image user (uid 1000), non-root, on a read-only root filesystem with /tmp writable', () => {
    for (const { what, spec } of podSpecs()) {
      expect(spec.securityContext?.runAsNonRoot, what).toBe(true);
      expect(spec.securityContext?.runAsUser, what).toBe(1000);
      for (const c of spec.containers) {
        expect(c.securityContext?.readOnlyRootFilesystem, `${what}/${c.name}`).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation, `${what}/${c.name}`).toBe(false);
        const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(tmp, `${what}/${c.name} mounts /tmp (a writable /tmp for temporary files)`).toBeDefined();
        expect(spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, `${what}: /tmp is an emptyDir`).toBeDefined();
      }
    }
  });

  it('request and limit CPU and memory, writers more than ingest', () => {
    for (const { what, container } of allContainers()) {
      for (const resource of ['cpu', 'memory']) {
        const request = container.resources?.requests?.[resource];
        const limit = container.resources?.limits?.[resource];
        expect(request, `${what} ${resource} request`).toBeDefined();
        expect(limit, `${what} ${resource} limit`).toBeDefined();
        expect(quantity(request ?? '0'), `${what} ${resource}`).toBeLessThanOrEqual(quantity(limit ?? '0'));
      }
    }
    const writer = containerOf('writer').resources;
    expect(quantity(writer?.requests?.cpu ?? '0')).toBe(0.25);
    expect(quantity(writer?.requests?.memory ?? '0')).toBe(256 * 2 ** 20);
    expect(quantity(writer?.limits?.cpu ?? '0')).toBe(1);
    expect(quantity(writer?.limits?.memory ?? '0')).toBe(512 * 2 ** 20);
    for (const service of DEPLOYED.filter((s) => s !== 'writer')) {
      const r = containerOf(service).resources;
      expect(quantity(r?.requests?.cpu ?? '1'), service).toBeLessThan(quantity(writer?.requests?.cpu ?? '0'));
      expect(quantity(r?.limits?.cpu ?? '1'), service).toBeLessThan(quantity(writer?.limits?.cpu ?? '0'));
    }
  });

  it('run one replica of each ingest service, the scheduler and the dashboard, and leave the writer count to the autoscaler', () => {
    for (const service of DEPLOYED.filter((s) => s !== 'writer')) expect(deploymentOf(service).spec.replicas, service).toBe(1);
    expect(deploymentOf('writer').spec.replicas, 'a replicas field would fight the HPA on every apply').toBeUndefined();
  });
});

describe('migrate Job', () => {
  it('runs `tickvault migrate` from the image, retries, and cleans up after itself', () => {
    expect(jobs.map((j) => j.metadata.name)).toEqual(['migrate']);
    const job = jobs[0] as Job;
    const c = job.spec.template.spec.containers[0] as Container;
    expect(job.spec.template.spec.containers).toHaveLength(1);
    expect(c.image).toBe(IMAGE);
    expect(c.command).toBeUndefined();
    expect(c.args).toEqual(['dist/cli.js', 'migrate']);
    expect(builtFrom(c.args?.[0]), 'the build of the CLI').toBe('tools/cli/src/main.ts');
    expect(isFile('tools/cli/src/main.ts')).toBe(true);
    expect(isFile('tools/cli/src/commands/migrate.ts')).toBe(true);
    expect(job.spec.backoffLimit).toBeGreaterThan(0);
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(['Never', 'OnFailure']).toContain(job.spec.template.spec.restartPolicy);
  });
});

describe('writer PodDisruptionBudget', () => {
  it('keeps at least one writer pod, and selects writer pods only', () => {
    expect(pdbs).toHaveLength(1);
    const pdb = pdbs[0] as Pdb;
    expect(pdb.spec.minAvailable).toBe(1);
    expect(matches(pdb.spec.selector.matchLabels, deploymentOf('writer').spec.template.metadata?.labels)).toBe(true);
    for (const d of deployments.filter((x) => x !== deploymentOf('writer'))) {
      expect(matches(pdb.spec.selector.matchLabels, d.spec.template.metadata?.labels), d.metadata.name).toBe(false);
    }
    for (const j of jobs) expect(matches(pdb.spec.selector.matchLabels, j.spec.template.metadata?.labels), j.metadata.name).toBe(false);
  });
});

describe('writer ScaledObject (KEDA)', () => {
  const so = (): ScaledObject => {
    expect(scaledObjects).toHaveLength(1);
    return scaledObjects[0] as ScaledObject;
  };

  it('targets the writer Deployment, from 1 to 8 replicas', () => {
    expect(so().apiVersion).toBe('keda.sh/v1alpha1');
    const ref = so().spec.scaleTargetRef;
    expect(ref.kind ?? 'Deployment').toBe('Deployment');
    expect(ref.apiVersion ?? 'apps/v1').toBe('apps/v1');
    expect(ref.name).toBe(deploymentOf('writer').metadata.name);
    expect(so().spec.minReplicaCount).toBe(1);
    expect(so().spec.maxReplicaCount).toBe(8);
    // kustomize renames the target along with the Deployment (namePrefix / nameSuffix).
    const config = parseYaml(readRepoFile(`${BASE}/kustomizeconfig.yaml`)) as { nameReference: { kind: string; fieldSpecs: { kind: string; path: string }[] }[] };
    expect(config.nameReference).toContainEqual({ kind: 'Deployment', fieldSpecs: [{ kind: 'ScaledObject', path: 'spec/scaleTargetRef/name' }] });
  });

  it('scales on the waiting jobs of the ticks queue, a metric the writer exposes', () => {
    const [trigger, ...others] = so().spec.triggers;
    expect(others).toEqual([]);
    expect(trigger?.type).toBe('prometheus');
    expect(trigger?.metricType ?? 'AverageValue').toBe('AverageValue');
    const query = trigger?.metadata.query ?? '';
    expect(query.replace(/\s+/g, '')).toContain('tickvault_queue_jobs{queue=~"ticks(-[0-9]+)?",state="waiting"}');
    // Every writer reports the same queue-wide count: a sum over writers would grow with the replica count,
    // so writers are collapsed with max per queue, then the tick shards are added up.
    expect(query.replace(/\s+/g, '')).toMatch(/^sum\(maxby\(queue\)\(/);
    expect(Number(trigger?.metadata.threshold)).toBeGreaterThan(0);
    expect(trigger?.metadata.serverAddress).toMatch(/^https?:\/\//);
    const metrics = readRepoFile('libs/runtime/src/metrics.ts');
    expect(metrics).toContain("name: 'tickvault_queue_jobs'");
    expect(metrics).toMatch(/labelNames: \['queue', 'state'\]/);
  });
});

describe('dashboard', () => {
  const dashboard = (): Container => containerOf('dashboard');
  const service = (): Service => {
    const found = services.filter((x) => matches(x.spec.selector, deploymentOf('dashboard').spec.template.metadata?.labels));
    expect(found).toHaveLength(1);
    return found[0] as Service;
  };
  const loaded = (config: Record<string, string>) => loadConfig('dashboard', SERVICES.dashboard.env, containerEnv(dashboard(), config));

  it('serves its UI on port `http` (DASHBOARD_PORT, 3000) on every address, through a ClusterIP Service that leaves unready pods out', () => {
    const env = literalEnv(dashboard());
    expect(env.DASHBOARD_HOST).toBe('0.0.0.0');
    expect(Number(env.DASHBOARD_PORT)).toBe(3000);
    expect(resolvePort(dashboard(), 'http'), 'container port `http`').toBe(3000);
    expect(loaded(baseConfig).DASHBOARD_PORT).toBe(3000);
    const svc = service();
    expect(svc.metadata.name).toBe('dashboard');
    expect(svc.spec.type ?? 'ClusterIP', 'never published by the base: plain HTTP').toBe('ClusterIP');
    const http = svc.spec.ports.find((p) => p.name === 'http');
    expect(http?.port).toBe(3000);
    expect(resolvePort(dashboard(), http?.targetPort ?? http?.port)).toBe(3000);
    // Users are routed through this Service: only to pods whose /readyz answers.
    expect(svc.spec.publishNotReadyAddresses ?? false).toBe(false);
  });

  for (const [label, config] of [['base', baseConfig], ['overlays/example', overlayConfig]] as const) {
    it(`is read-only unless DASHBOARD_QUEUE_ACTIONS is set, and authenticates (${label})`, () => {
      expect(config.DASHBOARD_QUEUE_ACTIONS, 'the ConfigMap').toBe('false');
      expect((dashboard().env ?? []).map((e) => e.name), 'no override in the container').not.toContain('DASHBOARD_QUEUE_ACTIONS');
      const c = loaded(config);
      expect(c.DASHBOARD_QUEUE_ACTIONS, 'Bull Board without retry, remove, pause or clean').toBe(false);
      expect(c.DASHBOARD_AUTH).toBe('basic');
      expect(c.DASHBOARD_PASSWORD, 'a password from the Secret').toBeDefined();
    });
  }

  it('never gets ALPACA_SECRET_KEY, and takes its login and database URLs from the Secret by key', () => {
    const c = dashboard();
    expect((c.env ?? []).map((e) => e.name)).not.toContain('ALPACA_SECRET_KEY');
    expect(SERVICES.dashboard.env as readonly string[]).not.toContain('ALPACA_SECRET_KEY');
    expect(c.envFrom?.some((x) => x.secretRef) ?? false, 'not the whole Secret').toBe(false);
    for (const name of ['DASHBOARD_PASSWORD', 'DASHBOARD_TOKEN', 'DASHBOARD_DATABASE_URL']) {
      const e = (c.env ?? []).find((x) => x.name === name);
      expect(e?.valueFrom?.secretKeyRef, name).toMatchObject({ name: SECRET, key: name });
      expect(name in baseConfig || name in overlayConfig, `${name} in a ConfigMap`).toBe(false);
    }
    // The pods cannot write a generated password (read-only root filesystem, and replicas would each
    // make their own): the Secret holds it.
    expect(secretKeys.example).toContain('DASHBOARD_PASSWORD');
    expect(secretKeys.overlay).toContain('DASHBOARD_PASSWORD');
  });

  it('limits its CPU and memory below the writer\'s, so a flood of readers cannot starve the node', () => {
    const r = dashboard().resources;
    expect(quantity(r?.limits?.cpu ?? '0')).toBeGreaterThan(0);
    expect(quantity(r?.limits?.cpu ?? '1')).toBeLessThanOrEqual(0.5);
    expect(quantity(r?.limits?.memory ?? '0')).toBeGreaterThan(0);
  });

  it('the Secret examples\' placeholders make it exit naming the variables, not start with them', () => {
    for (const data of [exampleSecrets, (parseYaml(readRepoFile(`${BASE}/secret.example.yaml`)) as { stringData: Record<string, string> }).stringData]) {
      const env = { ...containerEnv(dashboard(), baseConfig), DASHBOARD_PASSWORD: data.DASHBOARD_PASSWORD, DASHBOARD_TOKEN: data.DASHBOARD_TOKEN };
      expect(() => loadConfig('dashboard', SERVICES.dashboard.env, env)).toThrow(/DASHBOARD_PASSWORD[\s\S]*DASHBOARD_TOKEN|DASHBOARD_TOKEN[\s\S]*DASHBOARD_PASSWORD/);
    }
  });

  describe(`the example Ingress (${DASHBOARD_INGRESS})`, () => {
    const docs = () => parseYamlDocuments(readRepoFile(DASHBOARD_INGRESS)) as K8sObject[];
    const ingress = (): Ingress => {
      expect(docs().map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Ingress/dashboard']);
      return docs()[0] as Ingress;
    };

    it('parses, and terminates TLS for every host it routes, with a certificate Secret', () => {
      const { spec, apiVersion } = ingress();
      expect(apiVersion).toBe('networking.k8s.io/v1');
      const hosts = (spec.rules ?? []).map((r) => r.host);
      expect(hosts.length).toBeGreaterThan(0);
      const tlsHosts = (spec.tls ?? []).flatMap((t) => t.hosts ?? []);
      for (const host of hosts) {
        expect(host, 'a placeholder in a reserved domain').toMatch(/(^|\.)example\.com$/);
        expect(tlsHosts, `TLS for ${host}`).toContain(host);
      }
      for (const tls of spec.tls ?? []) expect(tls.secretName, 'a certificate Secret').toBeTruthy();
      expect(spec.ingressClassName).toBeTruthy();
      expect(readRepoFile(DASHBOARD_INGRESS), 'says why TLS').toMatch(/plain HTTP/);
    });

    it('routes to the dashboard Service by its port name `http`', () => {
      const backends = (ingress().spec.rules ?? []).flatMap((r) => r.http?.paths ?? []).map((p) => p.backend.service);
      expect(backends.length).toBeGreaterThan(0);
      for (const backend of backends) expect(backend).toEqual({ name: service().metadata.name, port: { name: 'http' } });
    });

    it('is applied by no kustomization (a user copies it into an overlay)', () => {
      for (const dir of [BASE, OVERLAY]) {
        for (const o of loadResources(dir)) expect(o.kind, `${dir}: ${o.metadata.name}`).not.toBe('Ingress');
      }
    });
  });
});

describe('overlays/example', () => {
  const baseScaledObject = scaledObjects[0] as ScaledObject;

  it('uses the base, sets a namespace and a release tag of the tickvault image', () => {
    expect(overlayKustomization.resources).toContain('../../base');
    expect(overlayKustomization.namespace).toMatch(/^[a-z0-9-]+$/);
    const image = overlayKustomization.images?.find((i) => i.name === IMAGE);
    expect(image?.newTag).toBeTruthy();
    expect(image?.newTag).not.toBe('latest');
  });

  it('merges into the base ConfigMap instead of replacing it', () => {
    const generators = overlayKustomization.configMapGenerator ?? [];
    for (const g of generators) {
      expect(g.name).toBe(CONFIG_MAP);
      expect(g.behavior).toBe('merge');
    }
    expect(Object.keys(overlayConfig).sort()).toEqual(Object.keys(baseConfig).sort());
  });

  it('generates the Secret the base refers to, with the keys the containers read', () => {
    const generator = overlayKustomization.secretGenerator?.find((g) => g.name === SECRET);
    expect(generator).toBeDefined();
    const referenced = new Set(allContainers().flatMap(({ container }) => (container.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.key] : []))));
    expect([...referenced].sort()).toEqual([...secretKeys.overlay].sort());
  });

  it('patches apply to base objects: more writers, and writer resources for the named container', () => {
    let patchedScaledObject: ScaledObject | undefined;
    for (const patch of overlayKustomization.patches ?? []) {
      expect(patch.path, 'patches live in files').toBeDefined();
      const docs = parseYamlDocuments(readRepoFile(posix.join(OVERLAY, patch.path ?? '')));
      if (Array.isArray(docs[0])) {
        // JSON 6902: a target is required; it must be a base object.
        const target = baseObjects.find((o) => o.kind === patch.target?.kind && o.metadata.name === patch.target?.name);
        expect(target, `${patch.path} targets a base object`).toBeDefined();
        const patched = applyJsonPatch(target, docs[0] as { op: string; path: string; value?: unknown }[]);
        if (target?.kind === 'ScaledObject') patchedScaledObject = patched as ScaledObject;
      } else {
        // Strategic merge: the object and each named container exist in the base.
        const p = docs[0] as Deployment;
        const target = baseObjects.find((o) => o.kind === p.kind && o.metadata.name === p.metadata.name) as Deployment | undefined;
        expect(target, `${patch.path} patches ${p.kind}/${p.metadata.name}`).toBeDefined();
        for (const c of p.spec?.template?.spec?.containers ?? []) {
          expect(target?.spec.template.spec.containers.map((x) => x.name), patch.path).toContain(c.name);
          for (const resource of ['cpu', 'memory']) {
            const request = c.resources?.requests?.[resource];
            const limit = c.resources?.limits?.[resource] ?? target?.spec.template.spec.containers.find((x) => x.name === c.name)?.resources?.limits?.[resource];
            if (request !== undefined && limit !== undefined) expect(quantity(request), `${patch.path} ${resource}`).toBeLessThanOrEqual(quantity(limit));
          }
        }
      }
    }
    expect(patchedScaledObject, 'the overlay patches the writer ScaledObject').toBeDefined();
    expect(patchedScaledObject?.spec.scaleTargetRef).toEqual(baseScaledObject.spec.scaleTargetRef);
    expect(patchedScaledObject?.spec.maxReplicaCount).toBeGreaterThan(baseScaledObject.spec.maxReplicaCount ?? 0);
    expect(patchedScaledObject?.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(patchedScaledObject?.spec.minReplicaCount).toBeLessThanOrEqual(patchedScaledObject?.spec.maxReplicaCount ?? 0);
  });
});

// --- real kustomize builds (kubectl kustomize) ------------------------------------------------------

/** Where a pod template sits in each workload kind. */
function podTemplateOf(o: K8sObject): PodTemplate | undefined {
  const spec = o.spec as { template?: PodTemplate; jobTemplate?: { spec: { template: PodTemplate } } } | undefined;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind)) return spec?.template;
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec.template;
  return undefined;
}

/** The restricted Pod Security Standard as the base sets it; overlays must not weaken any of it. */
const POD_SECURITY = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } };
const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
/** Pod labels that grant network access (base/network-policies.yaml). */
const ACCESS_LABELS = {
  postgres: ['tickvault/postgres', 'client'],
  redis: ['tickvault/redis', 'client'],
  providers: ['tickvault/internet', 'providers'],
  ingress: ['tickvault/ingress', 'http'],
} as const;
const KUBE_DNS: PolicyPeer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } };
const MONITORING: PolicyPeer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
/** Ranges an internet rule must not open: private, loopback, link-local (cloud metadata), shared (CGNAT), IPv6 unique-local and link-local. */
const NOT_INTERNET = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10'];
/** RFC 5737 documentation ranges: the example overlay's address placeholders must lie in one. */
const DOCUMENTATION_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'];

const urlPort = (url: string): string => {
  const u = new URL(url);
  const defaults: Record<string, string> = { 'https:': '443', 'wss:': '443', 'http:': '80', 'ws:': '80', 'postgres:': '5432', 'postgresql:': '5432', 'redis:': '6379', 'rediss:': '6379' };
  return u.port || (defaults[u.protocol] ?? '?');
};
const exampleSecrets = Object.fromEntries(parseDotenv(readRepoFile(`${OVERLAY}/secrets.env.example`)).map((e) => [e.key, e.value]));
const expectedPorts = {
  dns: ['UDP/53', 'TCP/53'],
  postgres: [`TCP/${urlPort(exampleSecrets.DATABASE_URL ?? '')}`],
  redis: [`TCP/${urlPort(exampleSecrets.REDIS_URL ?? '')}`],
  // Every provider endpoint the ingest services are configured with (BINANCE_WS_URL is on 9443).
  providers: [...new Set(Object.entries(baseConfig).filter(([k, v]) => k.endsWith('_URL') && /^(https?|wss?):/.test(v)).map(([, v]) => `TCP/${urlPort(v)}`))].sort(),
};

describe('kubectl kustomize', () => {
  const status = kubectlStatus();

  it('is available with kustomize v5 (.ci/run installs one when the machine has none)', () => {
    expect(status.ok ? '' : `${status.problem}. Run the "kubectl" step of .ci/run, or set KUBECTL to a kubectl 1.27+.`).toBe('');
  });
  if (!status.ok) return;

  it('finds the base and the example overlay', () => {
    expect(kustomizations()).toEqual(expect.arrayContaining([BASE, OVERLAY]));
  });

  for (const dir of kustomizations()) {
    describe(dir, () => {
      let built: K8sObject[] | undefined;
      const objects = (): K8sObject[] => (built ??= kustomizeBuild(dir) as K8sObject[]);
      const workloads = () => objects().flatMap((o) => {
        const template = podTemplateOf(o);
        return template ? [{ what: `${o.kind}/${o.metadata.name}`, object: o, template }] : [];
      });
      const policies = () => objects().filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
      const reads = (template: PodTemplate, name: string) =>
        [...(template.spec.initContainers ?? []), ...template.spec.containers].some((c) => (c.env ?? []).some((e) => e.name === name));
      const isIngest = (template: PodTemplate) => template.metadata?.labels?.['app.kubernetes.io/component']?.startsWith('ingest-') ?? false;
      /** Serves users over HTTP (the dashboard): a container port named `http`. */
      const servesHttp = (template: PodTemplate) => template.spec.containers.some((c) => c.ports?.some((p) => p.name === 'http'));

      it('builds, with the workloads of the base', () => {
        const names = workloads().map((w) => w.what);
        // A service may run as several Deployments of its name (overlays/writers-by-shard: writer-a, writer-b).
        for (const service of DEPLOYED) expect(names.some((n) => n.endsWith(`/${service}`) || n.includes(`/${service}-`)), `${service} in ${names.join(', ')}`).toBe(true);
        expect(names.some((n) => n.startsWith('Job/migrate')), 'the migrate Job').toBe(true);
      });

      it('runs a file the build writes in every container (args dist/<name>.js, no command)', () => {
        for (const { what, template } of workloads()) {
          for (const c of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
            expect(c.command, `${what}/${c.name}`).toBeUndefined();
            expect(builtFrom(c.args?.[0]), `${what}/${c.name}: ${c.args?.[0]}`).toBeDefined();
          }
        }
      });

      it('keeps the restricted security context of every pod and container', () => {
        for (const { what, template } of workloads()) {
          const spec = template.spec as PodSpec & { automountServiceAccountToken?: boolean; hostNetwork?: boolean; hostPID?: boolean; hostIPC?: boolean };
          expect(spec.securityContext, what).toEqual(POD_SECURITY);
          expect(spec.automountServiceAccountToken, `${what}: no API token`).toBe(false);
          for (const key of ['hostNetwork', 'hostPID', 'hostIPC'] as const) expect(spec[key], `${what} ${key}`).toBeUndefined();
          for (const c of [...(spec.initContainers ?? []), ...spec.containers]) expect(c.securityContext, `${what}/${c.name}`).toEqual(CONTAINER_SECURITY);
        }
      });

      it('resolves every reference: ConfigMaps and (where generated) Secrets by their hashed names, the ScaledObject target', () => {
        const names = (kind: string) => new Set(objects().filter((o) => o.kind === kind).map((o) => o.metadata.name));
        const secrets = names('Secret');
        for (const { what, template } of workloads()) {
          for (const c of template.spec.containers) {
            for (const source of c.envFrom ?? []) if (source.configMapRef) expect(names('ConfigMap'), `${what} envFrom`).toContain(source.configMapRef.name);
            for (const e of c.env ?? []) {
              const ref = e.valueFrom?.secretKeyRef;
              // The base ships no Secret (an overlay generates it or the operator creates it).
              if (ref && secrets.size > 0) expect(secrets, `${what} ${e.name}`).toContain(ref.name);
            }
          }
        }
        for (const so of objects().filter((o) => o.kind === 'ScaledObject') as ScaledObject[]) expect(names('Deployment'), so.metadata.name).toContain(so.spec.scaleTargetRef.name);
      });

      it('gives access labels to exactly the pods that need them: Postgres and Redis to the readers of DATABASE_URL and REDIS_URL, providers to ingest, ingress to the dashboard', () => {
        for (const { what, template } of workloads()) {
          const labels = template.metadata?.labels ?? {};
          const has = ([key, value]: readonly [string, string]) => labels[key] === value;
          expect(has(ACCESS_LABELS.postgres), `${what} tickvault/postgres`).toBe(reads(template, 'DATABASE_URL'));
          expect(has(ACCESS_LABELS.redis), `${what} tickvault/redis`).toBe(reads(template, 'REDIS_URL'));
          expect(has(ACCESS_LABELS.providers), `${what} tickvault/internet`).toBe(isIngest(template));
          expect(has(ACCESS_LABELS.ingress), `${what} tickvault/ingress`).toBe(servesHttp(template));
        }
      });

      it('isolates every pod both ways: a deny-all NetworkPolicy selects it', () => {
        const denyAll = policies().filter((p) => (p.spec.policyTypes ?? []).length === 2 && !p.spec.ingress?.length && !p.spec.egress?.length);
        expect(denyAll.length, 'a deny-all policy').toBeGreaterThan(0);
        for (const { what, template } of workloads()) {
          const labels = template.metadata?.labels;
          expect(access(denyAll, labels, 'Ingress').isolated, `${what} ingress`).toBe(true);
          expect(access(denyAll, labels, 'Egress').isolated, `${what} egress`).toBe(true);
        }
      });

      it('lets each pod reach DNS, then Postgres, Redis and the providers only as it needs, and nothing else', () => {
        for (const { what, template } of workloads()) {
          const { isolated, rules } = access(policies(), template.metadata?.labels, 'Egress');
          expect(isolated, what).toBe(true);
          const expected = [
            ...expectedPorts.dns,
            ...(reads(template, 'DATABASE_URL') ? expectedPorts.postgres : []),
            ...(reads(template, 'REDIS_URL') ? expectedPorts.redis : []),
            ...(isIngest(template) ? expectedPorts.providers : []),
          ].sort();
          expect([...new Set(rules.flatMap(rulePorts))].sort(), `${what}: ports it may connect to`).toEqual(expected);
          for (const rule of rules) {
            const ports = rulePorts(rule);
            const peers = rulePeers(rule, 'Egress');
            const where = `${what} via ${rule.policy} (${ports.join(', ')})`;
            if (ports.every((p) => expectedPorts.dns.includes(p))) {
              expect(peers, `${where}: the cluster DNS only`).toEqual([KUBE_DNS]);
            } else if (ports.every((p) => expectedPorts.providers.includes(p))) {
              expect(peers?.length, `${where}: address blocks`).toBeGreaterThan(0);
              for (const peer of peers ?? []) {
                expect(peer.podSelector ?? peer.namespaceSelector, `${where}: public addresses only, no cluster pods`).toBeUndefined();
                const block = peer.ipBlock;
                for (const range of NOT_INTERNET.filter((r) => block && cidrContains(block.cidr, r))) {
                  expect(block?.except?.some((e) => cidrContains(e, range)), `${where}: ${block?.cidr} excludes ${range}`).toBe(true);
                }
              }
            } else {
              // Postgres or Redis: one port per rule, so a datastore's address never opens another port.
              expect([[...expectedPorts.postgres], [...expectedPorts.redis]], where).toContainEqual(ports);
              if (dir === OVERLAY) {
                // The example narrows them to addresses, placeholders from the documentation ranges.
                expect(peers?.length, `${where}: narrowed to the datastore's address`).toBeGreaterThan(0);
                for (const peer of peers ?? []) {
                  const cidr = peer.ipBlock?.cidr ?? '';
                  expect(DOCUMENTATION_RANGES.some((r) => cidrContains(r, cidr)), `${where}: ${cidr} is a documentation placeholder`).toBe(true);
                }
              }
            }
          }
        }
      });

      it('lets only Prometheus in, from the `monitoring` namespace, on each pod\'s health port, and the ingress controller to the dashboard\'s `http`', () => {
        for (const { what, object, template } of workloads()) {
          const { isolated, rules } = access(policies(), template.metadata?.labels, 'Ingress');
          expect(isolated, what).toBe(true);
          for (const rule of rules) {
            if (rulePorts(rule).includes('TCP/http')) {
              expect(rulePorts(rule), `${what} via ${rule.policy}`).toEqual(['TCP/http']);
              expect(rulePeers(rule, 'Ingress'), `${what} via ${rule.policy}`).toEqual([INGRESS_CONTROLLER]);
              expect(servesHttp(template), `${what}: only pods that serve users`).toBe(true);
            } else {
              expect(rulePorts(rule), `${what} via ${rule.policy}`).toEqual(['TCP/health']);
              expect(rulePeers(rule, 'Ingress'), `${what} via ${rule.policy}`).toEqual([MONITORING]);
            }
          }
          if (servesHttp(template)) {
            expect(rules.some((r) => rulePorts(r).includes('TCP/http')), `${what}: reachable from the ingress controller`).toBe(true);
          }
          if (object.kind === 'Deployment') {
            expect(rules.length, `${what}: scrapable`).toBeGreaterThan(0);
            expect(template.spec.containers.some((c) => c.ports?.some((p) => p.name === 'health')), `${what} names its port "health"`).toBe(true);
          }
        }
      });
    });
  }

  it('infra/k8s/overlays/writers-by-shard: two writer Deployments own disjoint halves of the shards, each scaled on its own shards, and differ from the base writer only there', () => {
    const objects = kustomizeBuild('infra/k8s/overlays/writers-by-shard') as K8sObject[];
    const config = (objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(CONFIG_MAP)) as unknown as { data: Record<string, string> }).data;
    const writers = objects.filter((o): o is Deployment => o.kind === 'Deployment' && podTemplateOf(o)?.spec.containers[0]?.args?.[0] === 'dist/writer.js');
    expect(writers.map((w) => w.metadata.name).sort()).toEqual(['writer-a', 'writer-b']);
    const shardCount = Number(config.TICK_QUEUE_SHARDS);
    const queueNames = Array.from({ length: shardCount }, (_, i) => (i === 0 ? 'ticks' : `ticks-${i}`));
    const owned = new Map<string, number[]>();
    for (const writer of writers) {
      const container = writer.spec.template.spec.containers[0] as Container;
      const literal = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
      // The container's own value wins over the ConfigMap's `all`, as envFrom then env does in a pod.
      const loaded = loadConfig('writer', ['TICK_QUEUE_SHARDS', 'WRITER_SHARDS'], { ...config, ...literal });
      owned.set(writer.metadata.name, selectedShards(loaded.WRITER_SHARDS, loaded.TICK_QUEUE_SHARDS));
      // Its ScaledObject counts exactly the queues of its shards (PromQL regex matches are anchored).
      const scaled = objects.filter((o) => o.kind === 'ScaledObject') as ScaledObject[];
      const mine = scaled.filter((so) => so.spec.scaleTargetRef.name === writer.metadata.name);
      expect(mine.length, `${writer.metadata.name}: one ScaledObject`).toBe(1);
      const regex = /queue=~"([^"]+)"/.exec(mine[0]!.spec.triggers[0]!.metadata.query ?? '')?.[1] ?? '';
      expect(queueNames.filter((q) => new RegExp(`^(?:${regex})$`).test(q)), `${writer.metadata.name}: ${regex}`).toEqual(owned.get(writer.metadata.name)!.map((i) => queueNames[i]));
      // Neither Deployment's selector matches the other's pods; each has its own disruption budget.
      for (const other of writers.filter((w) => w !== writer)) expect(matches(writer.spec.selector.matchLabels, other.spec.template.metadata?.labels), `${writer.metadata.name} selects ${other.metadata.name}`).toBe(false);
      const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget' && matches((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, writer.spec.template.metadata?.labels));
      expect(budgets.map((b) => b.metadata.name), writer.metadata.name).toEqual([writer.metadata.name]);
    }
    const all = [...owned.values()].flat().sort((a, b) => a - b);
    expect(all, 'every shard owned once').toEqual(Array.from({ length: shardCount }, (_, i) => i));
    expect(shardCount).toBe(4);
    // writer-b.yaml is a copy: apart from its shards and instance label it is the base writer's pod.
    const strip = (d: Deployment) => {
      const template = structuredClone(d.spec.template);
      delete template.metadata?.labels?.['app.kubernetes.io/instance'];
      for (const c of template.spec.containers) c.env = (c.env ?? []).filter((e) => e.name !== 'WRITER_SHARDS').sort((x, y) => x.name.localeCompare(y.name));
      return template;
    };
    expect(strip(writers[1]!)).toEqual(strip(writers[0]!));
  });

  it(`${OVERLAY} with ${DASHBOARD_INGRESS} added: the Ingress lands in the namespace and reaches the dashboard pods on 3000`, () => {
    const objects = kustomizeBuild(OVERLAY, [DASHBOARD_INGRESS]) as K8sObject[];
    const namespace = overlayKustomization.namespace;
    const ingresses = objects.filter((o) => o.kind === 'Ingress') as Ingress[];
    expect(ingresses.map((i) => [i.metadata.name, (i.metadata as Meta & { namespace?: string }).namespace])).toEqual([['dashboard', namespace]]);
    const backend = ingresses[0]?.spec.rules?.[0]?.http?.paths[0]?.backend.service;
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === backend?.name) as Service | undefined;
    expect(svc, `Service ${backend?.name}`).toBeDefined();
    const port = svc?.spec.ports.find((p) => p.name === backend?.port.name);
    expect(port?.port).toBe(3000);
    const pods = objects.filter((o) => o.kind === 'Deployment' && matches(svc?.spec.selector ?? {}, podTemplateOf(o)?.metadata?.labels));
    expect(pods.map((d) => d.metadata.name)).toEqual(['dashboard']);
    const template = podTemplateOf(pods[0] as K8sObject) as PodTemplate;
    const container = template.spec.containers[0] as Container;
    expect(resolvePort(container, port?.targetPort), 'the Service targets the container port the policy opens').toBe(3000);
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
    const fromController = access(policies, template.metadata?.labels, 'Ingress').rules.filter((r) => (rulePeers(r, 'Ingress') ?? []).some((p) => JSON.stringify(p) === JSON.stringify(INGRESS_CONTROLLER)));
    expect(fromController.flatMap(rulePorts).map((p) => resolvePort(container, p.replace(/^TCP\//, '')))).toEqual([3000]);
  });

  it(`${OVERLAY}: denies by default for the whole namespace it owns`, () => {
    const policies = kustomizeBuild(OVERLAY).filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
    const namespaceWide = policies.filter((p) => Object.keys(p.spec.podSelector).length === 0);
    expect(namespaceWide.map((p) => [p.spec.policyTypes, p.spec.ingress, p.spec.egress])).toEqual([[['Ingress', 'Egress'], undefined, undefined]]);
    // Any pod, a hand-started one included, is isolated both ways.
    expect(access(policies, { run: 'debug' }, 'Egress')).toEqual({ isolated: true, rules: [] });
    expect(access(policies, { run: 'debug' }, 'Ingress')).toEqual({ isolated: true, rules: [] });
  });
});

describe('Secret examples', () => {
  const examples = {
    [`${BASE}/secret.example.yaml`]: (parseYaml(readRepoFile(`${BASE}/secret.example.yaml`)) as { stringData: Record<string, string> }).stringData,
    [`${OVERLAY}/secrets.env.example`]: exampleSecrets,
  };

  it('hold placeholders only: password CHANGE-ME on a `.invalid` host (never resolves), Redis with AUTH', () => {
    for (const [file, data] of Object.entries(examples)) {
      for (const key of ['DATABASE_URL', 'REDIS_URL', 'DASHBOARD_DATABASE_URL']) {
        const url = new URL(data[key] ?? '');
        expect(url.password, `${file} ${key}: a password placeholder, no default password`).toBe('CHANGE-ME');
        expect(url.hostname, `${file} ${key}`).toMatch(/\.invalid$/);
      }
      expect(new URL(data.REDIS_URL ?? '').protocol, `${file}: TLS to Redis`).toBe('rediss:');
      for (const key of ['DATABASE_URL', 'DASHBOARD_DATABASE_URL']) expect(new URL(data[key] ?? '').searchParams.get('sslmode'), `${file}: TLS to Postgres`).toBe('require');
    }
  });

  it('fail loudly when left unchanged: `tickvault migrate` (the Job) exits 1 naming the placeholder host', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'tools/cli/src/main.ts', 'migrate'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: exampleSecrets.DATABASE_URL },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toContain('migrate failed against postgres://tickvault:***@postgres.change-me.invalid');
    expect(run.stderr).not.toContain('CHANGE-ME');
  });
});


import { parseConnectionUrl, withPassword } from './connection-url.js';
import { ENV, type EnvName, type EnvValue } from './env.js';
import { maskSecret, maskUrl } from './mask.js';
import { readSecretFile } from './secret-files.js';
import { shardSelectionProblem, type ShardSelection } from './shard-list.js';

export type Config<K extends EnvName> = Readonly<{ [P in K]: EnvValue<P> }>;

export interface ConfigProblem {
  name: EnvName;
  message: string;
  /** The offending value, masked when the variable is secret. */
  shown?: string;
}

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(
      [
        `Invalid configuration for ${service}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
        ...problems.map((p) => `  - ${describeProblem(p)}`),
      ].join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** "NAME: what is wrong (got "value")": the value is added here, so messages never quote it themselves. */
export function describeProblem(p: ConfigProblem): string {
  return `${p.name}: ${p.message}${p.shown === undefined ? '' : ` (got "${p.shown}")`}`;
}

export function showValue(name: EnvName, raw: string): string {
  const secret = (ENV[name] as { secret?: 'url' | 'value' }).secret;
  if (secret === 'url') return maskUrl(raw);
  if (secret === 'value') return maskSecret(raw);
  return raw.length > 80 ? `${raw.slice(0, 77)}...` : raw;
}

/**
 * Parses the named variables once and returns them frozen. Every problem is collected,
 * so an operator fixes all of them in one go. Empty strings count as unset.
 */
export function loadConfig<K extends EnvName>(
  service: string,
  names: readonly K[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config<K> {
  const values: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const name of names) {
    const spec = ENV[name] as {
      schema: { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { issues: { message: string }[] } } };
      default?: string;
      optional?: true;
      emptyIsValue?: true;
      passwordFile?: EnvName;
    };
    const given = env[name]?.trim();
    const unset = given === undefined || (given === '' && !spec.emptyIsValue);
    const raw = unset ? spec.default : given;
    if (raw === undefined) {
      if (spec.optional) {
        values[name] = undefined;
        continue;
      }
      problems.push({ name, message: 'is required but not set' });
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    const passwordFile = spec.passwordFile && env[spec.passwordFile]?.trim();
    if (parsed.success && spec.passwordFile && passwordFile) {
      const withPassword = urlWithPasswordFrom(name, parsed.data as string, spec.passwordFile, passwordFile);
      if (typeof withPassword === 'string') values[name] = withPassword;
      else problems.push(withPassword);
    } else if (parsed.success) {
      values[name] = parsed.data;
    } else {
      const messages = [...new Set(parsed.error?.issues.map((i) => i.message) ?? ['is invalid'])];
      problems.push({ name, message: messages.join('; '), shown: showValue(name, raw) });
    }
  }
  problems.push(...relationProblems(values, env));
  problems.push(...crossProblems(values));
  if (problems.length > 0) throw new ConfigError(service, problems);
  return Object.freeze(values) as Config<K>;
}

/** Problems of one variable given another's value: each named on the variable to change. */
function crossProblems(values: Record<string, unknown>): ConfigProblem[] {
  const nodes = values.REDIS_CLUSTER_NODES as readonly unknown[] | undefined;
  const redisUrl = values.REDIS_URL as string | undefined;
  if (!nodes?.length || redisUrl === undefined) return [];
  const db = new URL(redisUrl).pathname.replace(/^\//, '');
  if (db === '' || db === '0') return [];
  return [{ name: 'REDIS_URL', message: `names database ${db}, but a Redis Cluster (REDIS_CLUSTER_NODES) has only database 0`, shown: showValue('REDIS_URL', redisUrl) }];
}

/** Settings valid alone that contradict each other; checked only when both were read and parsed. */
function relationProblems(values: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (values.WRITER_SHARDS !== undefined && typeof values.TICK_QUEUE_SHARDS === 'number') {
    const message = shardSelectionProblem(values.WRITER_SHARDS as ShardSelection, values.TICK_QUEUE_SHARDS);
    if (message) problems.push({ name: 'WRITER_SHARDS', message, shown: showValue('WRITER_SHARDS', env.WRITER_SHARDS?.trim() ?? '') });
  }
  return problems;
}

/** `url` with the password kept in `path` (named by `fileVar`), or the problem that prevents it. */
function urlWithPasswordFrom(name: EnvName, url: string, fileVar: EnvName, path: string): string | ConfigProblem {
  let password: string;
  try {
    password = readSecretFile(path);
  } catch (error) {
    return { name: fileVar, message: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  if (password === '') return { name: fileVar, message: `${path} is empty` };
  // By hand, not URL: a multi-host DATABASE_URL is valid for the driver but not for URL.
  const parsed = parseConnectionUrl(url);
  if (!parsed) return { name, message: 'is not a URL a password can be put into' };
  if (parsed.password) return { name: fileVar, message: `${name} already carries a password: give it in one place` };
  // Percent-encoded: postgres.js and ioredis decode it, so any character survives.
  return withPassword(url, encodeURIComponent(password));
}

/** For logs and the startup event: the configuration as parsed, secrets masked. */
export function describeConfig<K extends EnvName>(config: Config<K>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(config)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
    out[name] = showValue(name as EnvName, text);
  }
  return out;
}

/** For composition roots: parse or print every problem and exit 1. Nothing runs on bad config. */
export function loadConfigOrExit<K extends EnvName>(service: string, names: readonly K[]): Config<K> {
  try {
    return loadConfig(service, names);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

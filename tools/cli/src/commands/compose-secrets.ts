import { chmodSync, chownSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSecretFile, loadConfigOrExit, readSecretFile, type EnvName } from '@tickvault/config';
import type { Command } from './command.js';
import { parseOptions, UsageError } from '../args.js';

const ENV = ['POSTGRES_PASSWORD', 'REDIS_PASSWORD'] as const satisfies readonly EnvName[];

const USAGE = [
  'usage: tickvault compose-secrets --dir DIR [--app-uid UID] [--redis-uid UID]',
  '',
  "docker compose's one-shot `secrets` service: makes sure DIR (its `secrets` volume) holds",
  '  postgres-password  POSTGRES_PASSWORD when set, else the one generated on the first run (kept)',
  '  redis-password     REDIS_PASSWORD when set, else the one generated on the first run (kept)',
  '  redis.conf         `requirepass` with the Redis password, for `redis-server --include`',
  'Files are mode 0600; --app-uid gives the password files to that user (the services), --redis-uid',
  "gives redis.conf to Redis' user (needs root). Prints what it did, never a password.",
  '',
].join('\n');

/** Shorter than this, a password chosen in .env is accepted but called weak (generated ones are 32). */
const WEAK_BELOW = 12;

export interface SecretsLayout {
  postgresPassword: string;
  redisPassword: string;
  redisConf: string;
}

export function secretsLayout(dir: string): SecretsLayout {
  return { postgresPassword: join(dir, 'postgres-password'), redisPassword: join(dir, 'redis-password'), redisConf: join(dir, 'redis.conf') };
}

/** A Redis config string: quoted, with backslash and quote escaped (Redis' own sdssplitargs rules). */
export function redisAuthConf(password: string): string {
  return `# Written by tickvault compose-secrets from redis-password; rewritten on every start.\nrequirepass "${password.replace(/[\\"]/g, (c) => `\\${c}`)}"\n`;
}

/** Writes `content` to `path` whole (aside, then renamed over it), mode 0600. */
function replaceFile(path: string, content: string): void {
  const aside = `${path}.tmp`;
  writeFileSync(aside, content, { mode: 0o600 });
  chmodSync(aside, 0o600);
  renameSync(aside, path);
}

/** The password in `path`: `given` (written there when it differs), or the kept or newly generated one. */
function settle(path: string, given: string | undefined): { value: string; how: string } {
  if (given !== undefined) {
    let current: string | undefined;
    try {
      current = readSecretFile(path);
    } catch {
      current = undefined;
    }
    if (current !== given) replaceFile(path, given);
    return { value: given, how: current === given ? 'from .env (unchanged)' : 'from .env' };
  }
  const { value, created } = ensureSecretFile(path);
  return { value, how: created ? 'generated' : 'kept' };
}

export const composeSecretsCommand: Command = {
  summary: "docker compose's first-start secrets: Postgres and Redis passwords in a volume (from .env or generated)",
  usage: USAGE,
  env: ENV,
  async run(args) {
    const options = parseOptions(args, {
      dir: { type: 'string' },
      'app-uid': { type: 'string' },
      'redis-uid': { type: 'string' },
    }).values;
    if (!options.dir) throw new UsageError('--dir is required');
    for (const flag of ['app-uid', 'redis-uid'] as const) {
      if (options[flag] !== undefined && !/^\d+$/.test(options[flag])) throw new UsageError(`--${flag} must be a numeric user id (got "${options[flag]}")`);
    }
    const config = loadConfigOrExit('compose-secrets', ENV);
    const files = secretsLayout(options.dir);
    mkdirSync(options.dir, { recursive: true });

    const postgres = settle(files.postgresPassword, config.POSTGRES_PASSWORD);
    const redis = settle(files.redisPassword, config.REDIS_PASSWORD);
    replaceFile(files.redisConf, redisAuthConf(redis.value));
    if (options['app-uid'] !== undefined) {
      const uid = Number(options['app-uid']);
      for (const path of [files.postgresPassword, files.redisPassword]) chownSync(path, uid, uid);
    }
    if (options['redis-uid'] !== undefined) {
      const uid = Number(options['redis-uid']);
      chownSync(files.redisConf, uid, uid);
    }

    process.stdout.write(`postgres-password: ${postgres.how}\nredis-password: ${redis.how}\nredis.conf: written\n`);
    for (const [name, secret] of [['POSTGRES_PASSWORD', config.POSTGRES_PASSWORD], ['REDIS_PASSWORD', config.REDIS_PASSWORD]] as const) {
      if (secret !== undefined && secret.length < WEAK_BELOW) {
        process.stdout.write(`warning: ${name} is shorter than ${WEAK_BELOW} characters; unset it to have a random one generated\n`);
      }
    }
    return 0;
  },
};

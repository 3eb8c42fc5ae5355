import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ASSET_CLASSES, type AssetClass } from '@tickvault/schema';
import { ASSET_CLASS_ENV, configuredSources, demoFeedEnv, ENV, loadConfig, selectedShards, SERVICES, type EnvName } from '@tickvault/config';
// The CLI's own table of what each command reads: the compose `cli` service must pass it all.
import { commands } from '@tickvault/cli/commands';
// eslint-disable-next-line @nx/enforce-module-boundaries -- tools/build is the build script, not a workspace: it bundles the workspaces
import { buildAll } from '../../build/build.mjs';
import {
  builtFrom,
  dependsOn,
  durationSeconds,
  interpolate,
  parseCompose,
  parseDotenv,
  rawEnvironment,
  readRepoFile,
  REPO_ROOT,
  resolvedEnvironment,
  type ComposeService,
} from './parse.js';

const compose = parseCompose(readRepoFile('docker-compose.yml'));
const services = compose.services;
const dotenvExample = parseDotenv(readRepoFile('.env.example'));

/** What each process built from the tickvault image reads, exactly as its composition root does. */
const APP_ENV: Record<string, readonly EnvName[]> = Object.fromEntries(Object.entries(SERVICES).map(([name, spec]) => [name, spec.env]));
const DEFAULT_PORTS: Record<string, number> = Object.fromEntries(Object.entries(SERVICES).map(([name, spec]) => [name, spec.healthPort]));
// tools/cli/src/commands/migrate.ts reads only DATABASE_URL.
const MIGRATE_ENV = ['DATABASE_URL'] as const satisfies readonly EnvName[];

const APP_SERVICES = Object.keys(APP_ENV);
// The dashboard is the UI: it publishes its port, so it runs once rather than scaled.
const PUBLISHED: Record<string, string[]> = { dashboard: ['${DASHBOARD_PUBLISH:-127.0.0.1:3000}:3000'] };
const SCALABLE = APP_SERVICES.filter((name) => !(name in PUBLISHED));
const LONG_RUNNING = ['redis', 'postgres', ...APP_SERVICES];
const IMAGE = 'tickvault:local';
/** Read by compose itself (interpolation), not by a tickvault process. */
const COMPOSE_ONLY = ['POSTGRES_USER', 'POSTGRES_DB', 'DASHBOARD_PUBLISH'];
/** Where compose mounts the `secrets` volume, and what the `secrets` service writes there. */
const SECRETS_DIR = '/run/secrets/tickvault';

/**
 * The `secrets` service's first start, for real: its own command (from the CLI's TypeScript source, which
 * dist/cli.js is built from) run against a scratch directory that stands in for the volume. Paths under
 * SECRETS_DIR in a service's environment are then read from here.
 */
const volume = mkdtempSync(join(tmpdir(), 'tickvault-compose-secrets-'));
afterAll(() => rmSync(volume, { recursive: true, force: true }));
const firstStart = spawnSync(process.execPath, ['--import', 'tsx', 'tools/cli/src/main.ts', 'compose-secrets', '--dir', volume], {
  cwd: REPO_ROOT, env: { ...process.env, POSTGRES_PASSWORD: '', REDIS_PASSWORD: '' }, encoding: 'utf8',
});
const generated = (name: string) => readFileSync(join(volume, name), 'utf8');
const inVolume = (env: Record<string, string | undefined>): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v?.startsWith(`${SECRETS_DIR}/`) ? join(volume, v.slice(SECRETS_DIR.length + 1)) : v]));

const service = (name: string): ComposeService => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
const commandOf = (s: ComposeService): string[] => {
  expect(Array.isArray(s.command), 'command must be in exec (list) form').toBe(true);
  return s.command as string[];
};

/** Two interpolation environments: nothing set (every `${VAR:-default}` takes its default), and a copied .env.example. */
const INTERPOLATION_ENVS: Record<string, Record<string, string>> = {
  'no .env': {},
  '.env copied from .env.example': Object.fromEntries(dotenvExample.map((e) => [e.key, e.value])),
};

describe('docker-compose.yml', () => {
  it('defines redis, postgres, the one-shot secrets and migrate, and every service', () => {
    expect(Object.keys(services).sort()).toEqual(['cli', 'dashboard', 'fake-feeds', 'ingest-crypto', 'ingest-macro', 'ingest-stock', 'migrate', 'postgres', 'redis', 'scheduler', 'secrets', 'writer', 'writer-a', 'writer-b']);
  });

  it('has a writers-by-shard profile: two writers owning disjoint halves of 4 shards, the default writer unchanged', () => {
    expect(service('writer').profiles, '`docker compose up` still runs the writer of every shard').toBeUndefined();
    const owned: number[][] = [];
    for (const name of ['writer-a', 'writer-b']) {
      const s = service(name);
      expect(s.profiles, name).toEqual(['writers-by-shard']);
      expect(commandOf(s), name).toEqual(commandOf(service('writer')));
      expect(dependsOn(s), name).toEqual(dependsOn(service('writer')));
      // Everything the writer gets, WRITER_SHARDS aside: the same settings pass through from .env.
      const { WRITER_SHARDS: _own, ...rest } = rawEnvironment(s);
      const { WRITER_SHARDS: _all, ...writerRest } = rawEnvironment(service('writer'));
      expect(rest, name).toEqual(writerRest);
      const config = loadConfig(name, SERVICES.writer.env, inVolume(resolvedEnvironment(s, { TICK_QUEUE_SHARDS: '4' })));
      owned.push(selectedShards(config.WRITER_SHARDS, config.TICK_QUEUE_SHARDS));
      // Started without TICK_QUEUE_SHARDS=4, a writer naming a shard that does not exist stops, naming it.
      if (owned.at(-1)!.some((i) => i > 0)) {
        expect(() => loadConfig(name, SERVICES.writer.env, inVolume(resolvedEnvironment(s, {})))).toThrow(/WRITER_SHARDS: names shard/);
      }
    }
    expect(owned.flat().sort()).toEqual([0, 1, 2, 3]);
    expect(new Set(owned.flat()).size, 'no shard owned twice').toBe(4);
  });

  it('has a demo profile whose env file points every ingest service at the fake feeds, labelled demo', () => {
    const fake = service('fake-feeds');
    expect(fake.profiles).toEqual(['demo']);
    expect(fake.image).toBe(IMAGE);
    expect(fake.command?.[0]).toBe('dist/fake-feeds.js');
    // The build of tools/fake-feeds/src/main.ts (tools/build/build.mjs ENTRIES).
    expect(builtFrom(fake.command?.[0])).toBe('tools/fake-feeds/src/main.ts');
    expect(existsSync(join(REPO_ROOT, builtFrom(fake.command?.[0]) ?? ''))).toBe(true);
    const demoEnv = Object.fromEntries(parseDotenv(readRepoFile('infra/demo.env')).map((e) => [e.key, e.value]));
    expect(demoEnv).toEqual(demoFeedEnv('fake-feeds'));
    // Each variable reaches the services that read it (compose passes it through from the env file).
    for (const [name, reads] of Object.entries(APP_ENV)) {
      const passed = Object.keys(rawEnvironment(service(name)));
      for (const variable of Object.keys(demoEnv)) {
        if ((reads as readonly string[]).includes(variable)) expect(passed, `${name} passes ${variable}`).toContain(variable);
      }
    }
  });

  it('builds one image and runs every tickvault process from it', () => {
    for (const name of ['secrets', 'migrate', ...APP_SERVICES]) {
      expect(service(name).image, name).toBe(IMAGE);
      expect(service(name).build, name).toBe('.');
      expect(service(name).entrypoint, `${name} keeps the image's node entrypoint`).toBeUndefined();
    }
  });

  for (const [label, interpolationEnv] of Object.entries(INTERPOLATION_ENVS)) {
    describe(`each app service's environment passes its config loader (${label})`, () => {
      for (const [name, names] of Object.entries(APP_ENV)) {
        it(name, () => {
          const env = inVolume(resolvedEnvironment(service(name), interpolationEnv));
          const config = loadConfig(name, names, env);
          expect(config.HEALTH_PORT, 'HEALTH_PORT is set (the healthcheck reads it)').toBe(DEFAULT_PORTS[name]);
          expect(config.LOG_FORMAT).toBe('json');
          expect(config.REDIS_URL).toBe(`redis://:${generated('redis-password')}@redis:6379`);
          // Docker sends SIGKILL after stop_grace_period: the drain must finish before that.
          expect(config.SHUTDOWN_TIMEOUT_SECONDS).toBeLessThan(durationSeconds(service(name).stop_grace_period ?? '10s'));
          if ('DATABASE_URL' in config) expect(new URL(config.DATABASE_URL as string).host).toBe('postgres:5432');
          if ('DASHBOARD_PORT' in config) expect(PUBLISHED[name]?.map((p) => p.split(':').at(-1))).toEqual([String(config.DASHBOARD_PORT)]);
        });
      }
      it('dashboard: started by a plain `docker compose up`, on 127.0.0.1:3000, its password generated into its volume', () => {
        expect(service('dashboard').profiles, 'no profile').toBeUndefined();
        const env = inVolume(resolvedEnvironment(service('dashboard'), interpolationEnv));
        expect(env.DASHBOARD_PASSWORD ?? '', 'nothing to set by hand').toBe('');
        const config = loadConfig('dashboard', SERVICES.dashboard.env, env);
        expect(config.DASHBOARD_AUTH).toBe('basic');
        expect(config.DASHBOARD_HOST, 'inside the container; the published address limits who reaches it').toBe('0.0.0.0');
        // The file sits in a named volume (it survives re-creating the container) mounted where the
        // Dockerfile prepares a directory owned by the service user (a new volume copies its owner).
        const mount = [service('dashboard').volumes].flat().find((v) => String(v).startsWith('dashboard-data:'));
        const target = String(mount).split(':')[1]!;
        expect(config.DASHBOARD_PASSWORD_FILE.startsWith(`${target}/`)).toBe(true);
        expect(readRepoFile('Dockerfile')).toContain(`chown node:node ${target}`);
        expect(service('dashboard').ports?.map((p) => interpolate(String(p), interpolationEnv))).toEqual(['127.0.0.1:3000:3000']);
      });
      it('migrate', () => {
        const env = inVolume(resolvedEnvironment(service('migrate'), interpolationEnv));
        const config = loadConfig('migrate', MIGRATE_ENV, env);
        expect(new URL(config.DATABASE_URL).host).toBe('postgres:5432');
        expect(new URL(config.DATABASE_URL).password).toBe(generated('postgres-password'));
      });
    });
  }

  it('passes every variable a service reads through to it, so .env can tune it', () => {
    for (const [name, names] of Object.entries(APP_ENV)) {
      const keys = Object.keys(rawEnvironment(service(name)));
      expect(names.filter((n) => !keys.includes(n)), name).toEqual([]);
    }
  });

  it('gives each service only the secrets it reads: ALPACA_SECRET_KEY reaches ingest-stock alone', () => {
    const secrets = Object.entries(ENV).filter(([, spec]) => (spec as { secret?: string }).secret === 'value').map(([name]) => name);
    for (const [name, reads] of Object.entries(APP_ENV)) {
      const given = Object.keys(rawEnvironment(service(name))).filter((k) => secrets.includes(k));
      expect(given.filter((k) => !(reads as readonly string[]).includes(k)), name).toEqual([]);
    }
    const holders = Object.keys(services).filter((name) => 'ALPACA_SECRET_KEY' in rawEnvironment(service(name)));
    expect(holders).toEqual(['ingest-stock']);
    // The dashboard and scheduler still list the stock series ingest-stock runs, from the key id.
    const env = { ALPACA_KEY_ID: 'PKTEST0123456789', ALPACA_SECRET_KEY: 'a-secret-key-for-ingest-stock-only' };
    const sources = (name: string) => configuredSources('stock', loadConfig(name, APP_ENV[name]!, inVolume(resolvedEnvironment(service(name), env))));
    expect(sources('ingest-stock')).toEqual(['alpaca']);
    expect(sources('dashboard')).toEqual(['alpaca']);
    expect(sources('scheduler')).toEqual(['alpaca']);
  });

  it('sets only variables of the ENV registry on tickvault services (no typos)', () => {
    for (const name of ['secrets', 'migrate', 'cli', ...APP_SERVICES]) {
      const unknown = Object.keys(rawEnvironment(service(name))).filter((k) => !(k in ENV));
      expect(unknown, name).toEqual([]);
    }
  });

  it('gives every long-running service a healthcheck and a restart policy', () => {
    for (const name of LONG_RUNNING) {
      const hc = service(name).healthcheck;
      expect(hc?.disable, name).not.toBe(true);
      expect(hc?.test, name).toBeTruthy();
      expect(service(name).restart, name).toBe('unless-stopped');
    }
    for (const name of APP_SERVICES) {
      const test = [service(name).healthcheck?.test ?? []].flat().join(' ');
      expect(test, name).toContain('/readyz');
      expect(test, name).toContain('HEALTH_PORT');
      expect(durationSeconds(service(name).stop_grace_period ?? '0s'), name).toBe(30);
    }
    expect(service('migrate').restart).toBe('no');
    expect(service('secrets').restart).toBe('no');
  });

  it('starts the services only after migrate has succeeded and Redis is healthy', () => {
    for (const name of APP_SERVICES) {
      expect(dependsOn(service(name)), name).toMatchObject({ migrate: 'service_completed_successfully', redis: 'service_healthy' });
    }
    expect(dependsOn(service('migrate'))).toEqual({ postgres: 'service_healthy' });
    // Postgres and Redis start only once their passwords are in the volume.
    expect(dependsOn(service('postgres'))).toEqual({ secrets: 'service_completed_successfully' });
    expect(dependsOn(service('redis'))).toEqual({ secrets: 'service_completed_successfully' });
    expect(dependsOn(service('secrets'))).toEqual({});
  });

  it('has no default password: the secrets service generates them on first start, and Postgres, Redis and every service read the same files', () => {
    expect(firstStart.status, firstStart.stderr).toBe(0);
    expect(firstStart.stdout).toBe('postgres-password: generated\nredis-password: generated\nredis.conf: written\n');
    const secrets = service('secrets');
    const mountOf = (s: ComposeService) => [s.volumes].flat().map(String).find((v) => v.startsWith('secrets:'));
    expect(mountOf(secrets)).toBe(`secrets:${SECRETS_DIR}`);
    expect(commandOf(secrets).slice(0, 4)).toEqual(['dist/cli.js', 'compose-secrets', '--dir', SECRETS_DIR]);
    expect(secrets.user, 'root, to give each file to its reader').toBe('0');
    // From .env when set there, passed only to the secrets service.
    expect(resolvedEnvironment(secrets, { POSTGRES_PASSWORD: 'from-dotenv-0123', REDIS_PASSWORD: 'redis-dotenv-0123' })).toEqual({
      POSTGRES_PASSWORD: 'from-dotenv-0123', REDIS_PASSWORD: 'redis-dotenv-0123',
    });
    for (const [name, s] of Object.entries(services)) {
      if (name === 'secrets') continue;
      const env = rawEnvironment(s);
      expect(env.POSTGRES_PASSWORD, `${name} gets no password in its environment`).toBeUndefined();
      expect(env.REDIS_PASSWORD, name).toBeUndefined();
      const reads = Object.values(env).some((v) => v?.startsWith(`${SECRETS_DIR}/`)) || (name === 'redis');
      expect(mountOf(s), `${name} mounts the secrets read-only exactly when it reads them`).toBe(reads ? `secrets:${SECRETS_DIR}:ro` : undefined);
    }
    expect(mountOf(service('fake-feeds'))).toBeUndefined();

    // Postgres creates its role with the file's password; the services put the same one in their URL.
    const postgresEnv = rawEnvironment(service('postgres'));
    expect(postgresEnv.POSTGRES_PASSWORD_FILE).toBe(`${SECRETS_DIR}/postgres-password`);
    for (const name of ['migrate', ...APP_SERVICES]) {
      const env = rawEnvironment(service(name));
      expect(env.DATABASE_PASSWORD_FILE, name).toBe(`${SECRETS_DIR}/postgres-password`);
      expect(env.REDIS_PASSWORD_FILE, name).toBe(`${SECRETS_DIR}/redis-password`);
      for (const url of [env.DATABASE_URL, env.REDIS_URL]) expect(new URL(interpolate(url ?? '', {})).password, `${name}: no password in ${url}`).toBe('');
    }
    // Redis requires the file's password: requirepass from the included redis.conf, AUTH in its healthcheck.
    const redisCommand = commandOf(service('redis'));
    expect(redisCommand.slice(0, 3)).toEqual(['redis-server', '--include', `${SECRETS_DIR}/redis.conf`]);
    expect(generated('redis.conf')).toContain(`requirepass "${generated('redis-password')}"`);
    expect(readRepoFile('infra/redis/redis.conf'), 'the sample config tells how too').toMatch(/^# requirepass /m);
    expect([service('redis').healthcheck?.test].flat().join(' ')).toContain(`REDISCLI_AUTH="$$(cat ${SECRETS_DIR}/redis-password)"`);
    // Written for the image's node user (the services) and the redis images' redis user.
    expect(commandOf(secrets).slice(4)).toEqual(['--app-uid', '1000', '--redis-uid', '999']);
    expect(service('redis').image).toMatch(/^redis:7(-alpine)?$/);
  });

  it('runs Redis with noeviction and AOF, as BullMQ needs', () => {
    const command = [service('redis').command ?? []].flat().join(' ');
    expect(service('redis').image).toMatch(/^redis:7/);
    expect(command).toMatch(/--maxmemory-policy\s+noeviction\b/);
    expect(command).toMatch(/--appendonly\s+yes\b/);
    expect(command).toMatch(/--appendfsync\s+everysec\b/);
    const conf = readRepoFile('infra/redis/redis.conf');
    // The same memory cap in both, sized in redis.conf for the backlog the docs promise.
    const maxmemory = /^maxmemory (\S+)$/m.exec(conf)?.[1];
    expect(maxmemory).toBe('1gb');
    expect(command).toMatch(new RegExp(`--maxmemory\\s+${maxmemory}\\b`));
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^appendfsync everysec$/m);
  });

  it('keeps data in named volumes', () => {
    expect([service('redis').volumes].flat()).toContain('redis-data:/data');
    expect([service('postgres').volumes].flat()).toContain('postgres-data:/var/lib/postgresql/data');
    expect([service('dashboard').volumes].flat()).toContain('dashboard-data:/app/.tickvault');
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['dashboard-data', 'postgres-data', 'redis-data', 'secrets']);
  });

  it('publishes the dashboard where DASHBOARD_PUBLISH says, 127.0.0.1:3000 unless set', () => {
    const ports = (env: Record<string, string>) => service('dashboard').ports?.map((p) => interpolate(String(p), env));
    expect(ports({})).toEqual(['127.0.0.1:3000:3000']);
    expect(ports({ DASHBOARD_PUBLISH: '0.0.0.0:8080' })).toEqual(['0.0.0.0:8080:3000']);
    expect(dotenvExample.find((e) => e.key === 'DASHBOARD_PUBLISH')?.value).toBe('127.0.0.1:3000');
  });

  it('lets the app services scale: no container_name, no host ports', () => {
    for (const name of SCALABLE) {
      expect(service(name).container_name, name).toBeUndefined();
      expect(service(name).ports, name).toBeUndefined();
    }
    // Postgres and Redis are not published by default either; only the UI is.
    for (const name of Object.keys(services)) expect(service(name).ports, name).toEqual(PUBLISHED[name]);
  });

  it('has no inline secrets: passwords come from ${...} references only', () => {
    const reference = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$/;
    const secretNames = new Set(
      Object.entries(ENV)
        .filter(([, spec]) => (spec as { secret?: string }).secret === 'value')
        .map(([name]) => name),
    );
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(rawEnvironment(s))) {
        if (value === undefined) continue;
        if (key.endsWith('_FILE')) {
          // Where a secret is kept, not the secret: a path inside the container.
          expect(value, `${name}.${key}`).toMatch(/^\//);
        } else if (/PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE/i.test(key) || secretNames.has(key)) {
          expect(value, `${name}.${key}`).toMatch(reference);
        }
        // The password in a URL (scheme://user:password@host), with ${...} references masked first
        // since their `:-default` contains a colon.
        const refs: string[] = [];
        const masked = value.replace(/\$\{[^}]*\}/g, (ref) => `\u0000${refs.push(ref) - 1}\u0000`);
        const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(masked)?.[1];
        const password = userinfo?.includes(':') ? userinfo.slice(userinfo.indexOf(':') + 1) : undefined;
        if (password !== undefined) {
          const unmasked = password.replace(/\u0000(\d+)\u0000/g, (_, i: string) => refs[Number(i)] ?? '');
          expect(unmasked, `${name}.${key} password`).toMatch(reference);
        }
      }
    }
  });

  it('runs files the build writes, built from entries that exist, the same ones the CLI runs', () => {
    for (const name of ['secrets', 'migrate', 'fake-feeds', ...APP_SERVICES]) {
      const [file] = commandOf(service(name));
      // dist/<name>.js with <name> in the build's ENTRIES (tools/build/build.mjs): the image builds it.
      const source = builtFrom(file);
      expect(source, `${name}: ${file} is a file the build writes`).toBeDefined();
      const path = join(REPO_ROOT, source ?? '');
      expect(existsSync(path) && statSync(path).isFile(), `${name}: ${source} exists`).toBe(true);
    }
    for (const [name, spec] of Object.entries(SERVICES)) {
      expect(commandOf(service(name)), name).toEqual([`dist/${name}.js`]);
      expect(builtFrom(`dist/${name}.js`), `${name}: built from SERVICES entry`).toBe(spec.entry);
    }
    expect(commandOf(service('migrate'))).toEqual(['dist/cli.js', 'migrate']);
    expect(builtFrom('dist/cli.js')).toBe('tools/cli/src/main.ts');
  });

  describe('cli: `docker compose run --rm cli <command>` (#13 item 9)', () => {
    const cli = service('cli');
    /** The commands that act on a running stack; start, demo and service run one, compose-secrets is the secrets service, env-docs edits the README. */
    const STACK_COMMANDS = ['backfill', 'dashboard-password', 'data-environment', 'doctor', 'gaps', 'migrate', 'report', 'run-now', 'verify'];
    /** The sources and symbols a service (or the cli) resolves per asset class, as report lists them. */
    const series = (name: string, env: Record<string, string>, classes: readonly AssetClass[] = ASSET_CLASSES) => {
      const reads = name === 'cli' ? commands.report!.env : APP_ENV[name]!;
      const config: Readonly<Record<string, unknown>> = loadConfig(name, reads, inVolume(resolvedEnvironment(service(name), env)));
      return Object.fromEntries(classes.map((c) => [c, { sources: configuredSources(c, config), symbols: config[ASSET_CLASS_ENV[c].symbols] }]));
    };

    it('is left out of a plain `docker compose up` and runs the tickvault command from the image', () => {
      expect(cli.profiles).toEqual(['cli']);
      expect(cli.image).toBe(IMAGE);
      expect(cli.build).toBe('.');
      // The built CLI (the image has no tsx for tools/cli/bin/tickvault.js, the checkout's `tickvault` command).
      expect(cli.entrypoint).toEqual(['node', 'dist/cli.js']);
      expect(builtFrom(cli.entrypoint![1]!)).toBe('tools/cli/src/main.ts');
      expect(commandOf(cli), 'with no command: the list of commands').toEqual(['--help']);
      expect(cli.restart).toBe('no');
      expect(cli.healthcheck?.disable).toBe(true);
      expect(cli.ports).toBeUndefined();
      // Doctor and report say what is wrong with the schema rather than waiting for migrate.
      expect(dependsOn(cli)).toEqual({ postgres: 'service_healthy', redis: 'service_healthy' });
    });

    it('runs as compose would start it: the entrypoint with the default command, then with a command', async () => {
      // The image builds dist/ in its build stage; a checkout builds it here (npm start does the same).
      await buildAll({ quiet: true });
      const run = (args: string[]) => spawnSync(process.execPath, [...cli.entrypoint!.slice(1), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
      const overview = run(commandOf(cli));
      expect(overview.status, overview.stderr).toBe(0);
      expect(overview.stdout).toContain('docker compose run --rm cli');
      for (const name of STACK_COMMANDS) expect(overview.stdout, name).toContain(`\n  ${name} `);
      const help = run(['report', '--help']);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^usage: tickvault report /);
      expect(readRepoFile('README.md')).toContain('docker compose run --rm cli report');
    });

    for (const [label, interpolationEnv] of Object.entries({ ...INTERPOLATION_ENVS, 'demo (infra/demo.env)': Object.fromEntries(parseDotenv(readRepoFile('infra/demo.env')).map((e) => [e.key, e.value])) })) {
      it(`passes each stack command what it reads, pointing at the stack (${label})`, () => {
        const raw = Object.keys(rawEnvironment(cli));
        const env = inVolume(resolvedEnvironment(cli, interpolationEnv));
        for (const name of STACK_COMMANDS) {
          const command = commands[name]!;
          expect(command.env.filter((v) => !raw.includes(v)), `${name} reads it, so .env can tune it`).toEqual([]);
          const config = loadConfig(`cli ${name}`, command.env, env) as Record<string, unknown>;
          if ('DATABASE_URL' in config) {
            expect(new URL(config.DATABASE_URL as string).host, name).toBe('postgres:5432');
            expect(new URL(config.DATABASE_URL as string).password, name).toBe(generated('postgres-password'));
          }
          if ('REDIS_URL' in config) expect(config.REDIS_URL, name).toBe(`redis://:${generated('redis-password')}@redis:6379`);
        }
      });

      it(`report lists the series the services run, not its own defaults (${label})`, () => {
        const fromCli = series('cli', interpolationEnv);
        expect(fromCli).toEqual(series('dashboard', interpolationEnv));
        expect(fromCli).toEqual(series('scheduler', interpolationEnv));
        for (const c of ASSET_CLASSES) expect(fromCli[c], c).toEqual(series(`ingest-${c}`, interpolationEnv, [c])[c]);
        if (label.startsWith('demo')) expect(fromCli.stock?.sources).toEqual(['alpaca', 'yahoo']);
      });
    }

    it('reads the password the dashboard generated, from its volume, read-only', () => {
      const mount = (s: ComposeService) => [s.volumes].flat().map(String).find((v) => v.startsWith('dashboard-data:'));
      expect(mount(cli)).toBe(`${mount(service('dashboard'))}:ro`);
      for (const name of ['DASHBOARD_AUTH', 'DASHBOARD_USER', 'DASHBOARD_PASSWORD', 'DASHBOARD_PASSWORD_FILE']) {
        expect(rawEnvironment(cli)[name], name).toBe(rawEnvironment(service('dashboard'))[name]);
      }
    });
  });

  it('sets HEALTH_PORT literally on each app service (the healthcheck depends on it)', () => {
    for (const name of APP_SERVICES) {
      expect(rawEnvironment(service(name)).HEALTH_PORT, name).toBe(String(DEFAULT_PORTS[name]));
    }
  });
});

describe('.env.example', () => {
  const byKey = new Map(dotenvExample.map((e) => [e.key, e]));

  it('lists every variable of the ENV registry with its default', () => {
    for (const [name, spec] of Object.entries(ENV)) {
      const entry = byKey.get(name);
      expect(entry, `${name} is listed`).toBeDefined();
      expect(entry?.value, name).toBe((spec as { default?: string }).default ?? '');
    }
  });

  it('lists the settings only compose reads, and nothing unknown', () => {
    for (const name of COMPOSE_ONLY) expect(byKey.has(name), name).toBe(true);
    const unknown = [...byKey.keys()].filter((k) => !(k in ENV) && !COMPOSE_ONLY.includes(k));
    expect(unknown).toEqual([]);
    expect(dotenvExample.length, 'no key listed twice').toBe(byKey.size);
  });

  it('documents every variable with a comment', () => {
    for (const entry of dotenvExample) expect(entry.comment.join(' ').length, entry.key).toBeGreaterThan(10);
    for (const [name, spec] of Object.entries(ENV)) {
      expect(byKey.get(name)?.comment.join(' '), name).toContain(spec.doc);
    }
  });

  it('gives every variable compose interpolates a line', () => {
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(compose);
    // `$${VAR}` is escaped for the container's shell, not interpolated by compose.
    const referenced = new Set(strings.flatMap((v) => [...v.replaceAll('$$', '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1])));
    expect([...referenced].filter((n) => n && !byKey.has(n))).toEqual([]);
  });
});

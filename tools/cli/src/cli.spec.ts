import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { commandEnv, commandHelp, overview, runCommandLine, synopsis, type CliOutput } from './cli.js';
import type { Command } from './commands/command.js';
import { commands } from './commands/index.js';

function capture() {
  const out = { stdout: '', stderr: '' };
  const io: CliOutput = {
    stdout: { write: (chunk: string) => ((out.stdout += chunk), true) },
    stderr: { write: (chunk: string) => ((out.stderr += chunk), true) },
  };
  return { out, io };
}

async function run(argv: string[], table: Record<string, Command> = commands) {
  const { out, io } = capture();
  const code = await runCommandLine(argv, table, io);
  return { code, ...out };
}

/** The real commands with `run` replaced: any of them running fails the test. */
const inert: Record<string, Command> = Object.fromEntries(
  Object.entries(commands).map(([name, command]) => [name, { ...command, run: () => Promise.reject(new Error(`${name} ran`)) }]),
);

const NAMES = Object.keys(commands);
const rootVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('tickvault <command> --help', () => {
  it.each(NAMES)('%s: prints its usage and exits 0 without running, however --help is asked for', async (name) => {
    const command = commands[name]!;
    for (const argv of [[name, '--help'], [name, '-h'], ['help', name], ['--help', name], [name, '--json', '--help'], [name, '--no-such-option', '-h'], [name, 'writer', '--help']]) {
      const result = await run(argv, inert);
      expect(result, argv.join(' ')).toEqual({ code: 0, stdout: commandHelp(command), stderr: '' });
    }
    expect(command.usage).toMatch(new RegExp(`^usage: tickvault ${name}\\b`));
    expect(commandHelp(command)).not.toContain('npm run tickvault --');
  });

  it('names the variables a command reads, with the password files of its URLs', () => {
    const report = commandHelp(commands.report!);
    expect(report).toMatch(/\nReads DATABASE_URL, DATABASE_PASSWORD_FILE, DATABASE_READ_URL, DATABASE_READ_FALLBACK, REDIS_URL, REDIS_PASSWORD_FILE, REDIS_CLUSTER_NODES, QUEUE_PREFIX, .*CRYPTO_SOURCES/);
    for (const command of Object.values(commands)) {
      const names = commandEnv(command);
      expect(names, command.usage.split('\n')[0]).toEqual([...new Set(names)]);
    }
    expect(commandEnv(commands.migrate!)).toEqual(['DATABASE_URL', 'DATABASE_PASSWORD_FILE']);
    expect(commandHelp(commands['env-docs']!)).not.toContain('Reads');
  });

  it('runs the command when --help comes after --', async () => {
    let seen: string[] | undefined;
    const table = { probe: { summary: 's', usage: 'usage: tickvault probe\n', env: [], run: async (args: string[]) => ((seen = args), 0) } };
    expect(await run(['probe', '--', '--help'], table)).toMatchObject({ code: 0, stdout: '' });
    expect(seen).toEqual(['--', '--help']);
  });
});

describe('tickvault usage errors', () => {
  // Were a command to act on a line it does not understand, it would meet these and exit 1, not 2.
  beforeEach(() => {
    vi.stubEnv('DATABASE_URL', 'postgres://postgres@127.0.0.1:1/tickvault_never');
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:1');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each(NAMES)('%s: an unknown option exits 2 with its usage line, before doing anything', async (name) => {
    const result = await run([name, '--no-such-option']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: `tickvault ${name}: unknown option '--no-such-option'\n${synopsis(commands[name]!.usage)}Run \`tickvault ${name} --help\` for more.\n`,
    });
  });

  it('rejects what a command without arguments would otherwise ignore', async () => {
    for (const argv of [['migrate', 'now'], ['doctor', 'all'], ['dashboard-password', 'x'], ['env-docs', 'README.md'], ['start', 'writer'], ['demo', '--fast']]) {
      const result = await run(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr, argv.join(' ')).toMatch(new RegExp(`^tickvault ${argv[0]}: (unexpected argument|unknown option) '${argv[1]}'\\nusage: tickvault ${argv[0]}\\b`));
    }
  });

  it('quotes a bad value once (report --watch -5 read like an unknown option)', async () => {
    for (const argv of [['report', '--watch', '-5'], ['report', '--watch=-5'], ['report', '--json', '--watch', '-5']]) {
      const result = await run(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr.split('\n')[0]).toBe('tickvault report: --watch takes a number of seconds from 1 to 3600 (got "-5")');
    }
    expect((await run(['gaps', '--limit', '0'])).stderr.split('\n')[0]).toBe('tickvault gaps: --limit must be 1..10000');
    expect((await run(['backfill', '--source', 'binance'])).stderr.split('\n')[0]).toBe('tickvault backfill: --source, --symbol, --asset-class, --from and --to are required');
    expect((await run(['run-now', 'weekly'])).stderr.split('\n')[0]).toBe('tickvault run-now: run-now takes one of gap-fill, health (got "weekly")');
  });

  it('exits 2 for an unknown command or option, and without a command', async () => {
    expect(await run(['repot'])).toEqual({ code: 2, stdout: '', stderr: 'tickvault: unknown command "repot"\nusage: tickvault <command> [options]\nRun `tickvault --help` for the commands.\n' });
    expect((await run(['--json'])).stderr).toMatch(/^tickvault: unknown option "--json"\n/);
    expect((await run(['help', 'repot'])).code).toBe(2);
    expect(await run([])).toEqual({ code: 2, stdout: '', stderr: overview(commands) });
  });
});

describe('tickvault --help and --version', () => {
  it('lists every command and the exit codes', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const result = await run(argv, inert);
      expect(result).toEqual({ code: 0, stdout: overview(commands), stderr: '' });
    }
    const text = overview(commands);
    for (const [name, command] of Object.entries(commands)) expect(text).toContain(`  ${name.padEnd(18)}  ${command.summary}\n`);
    expect(text).toContain('Exit status: 0 done');
    expect(text).toMatch(/1 failed .*\n.*2 the command line is wrong \(nothing was done\)/);
  });

  it("prints the repository's version from package.json", async () => {
    expect(rootVersion).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-v', '-V']) expect(await run([flag], inert)).toEqual({ code: 0, stdout: `tickvault ${rootVersion}\n`, stderr: '' });
  });

  it('the README lists every command and the same exit codes', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const name of NAMES) expect(readme, name).toMatch(new RegExp(`\`(tickvault ${name}|npm (start|run ${name}))\\b`));
    expect(readme).toContain('Exit codes, for scripts: `0` done');
    expect(readme).toMatch(/`1` failed[^`]*`2` the command line is wrong/);
  });

  it('takes the synopsis up to the first blank line', () => {
    expect(synopsis('usage: tickvault x\n       tickvault y\n\nmore\n')).toBe('usage: tickvault x\n       tickvault y\n');
    expect(synopsis('usage: tickvault x')).toBe('usage: tickvault x\n');
  });
});

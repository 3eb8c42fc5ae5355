import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { ENV, type EnvName } from '@tickvault/config';
import { UsageError } from './args.js';
import type { Command } from './commands/command.js';
import { REPO_ROOT } from './commands/services.js';

export interface CliOutput {
  stdout: Pick<Writable, 'write'>;
  stderr: Pick<Writable, 'write'>;
}

/** The exit codes of every command, printed by --help and in the README. */
export const EXIT_CODES = { ok: 0, failed: 1, usage: 2 } as const;

const HELP_FLAGS = new Set(['--help', '-h']);
const VERSION_FLAGS = new Set(['--version', '-v', '-V']);

/** The version of the repository's package.json: the one release of all apps, libs and tools. */
export function cliVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A usage text's synopsis: its lines up to the first blank one. */
export function synopsis(usage: string): string {
  const end = usage.indexOf('\n\n');
  return `${end === -1 ? usage.trimEnd() : usage.slice(0, end)}\n`;
}

/** The variables a command reads, each URL followed by the file its password may come from (DATABASE_PASSWORD_FILE …). */
export function commandEnv(command: Command): EnvName[] {
  // Two URLs can share one password file (DATABASE_URL and DATABASE_READ_URL): each name once.
  return [...new Set(command.env.flatMap((name) => {
    const passwordFile = (ENV[name] as { passwordFile?: EnvName }).passwordFile;
    return passwordFile ? [name, passwordFile] : [name];
  }))];
}

export function commandHelp(command: Command): string {
  const text = command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`;
  const env = commandEnv(command);
  return env.length === 0 ? text : `${text}\nReads ${env.join(', ')} (README "Configuration").\n`;
}

export function overview(commands: Readonly<Record<string, Command>>): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: tickvault <command> [options]',
    '       tickvault <command> --help | tickvault --version',
    '',
    'Run it as `npx tickvault …` in the repository (after npm install), `npm run tickvault -- …`, or',
    'against the docker compose stack as `docker compose run --rm cli …`.',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    `Exit status: ${EXIT_CODES.ok} done (checks passed), ${EXIT_CODES.failed} failed (a check failed, or Postgres, Redis or the`,
    `configuration did; the message names which), ${EXIT_CODES.usage} the command line is wrong (nothing was done).`,
    '',
  ].join('\n');
}

/** `--help` or `-h` anywhere before a `--`: help wins over every other argument, so it can never act. */
function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (HELP_FLAGS.has(arg)) return true;
  }
  return false;
}

/**
 * Runs one command line (process.argv without node and the script) and resolves to its exit code.
 * Help, the version and usage errors are written to `out`; the commands write their own output.
 */
export async function runCommandLine(
  argv: readonly string[],
  commands: Readonly<Record<string, Command>>,
  out: CliOutput = process,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    out.stderr.write(overview(commands));
    return EXIT_CODES.usage;
  }
  if (VERSION_FLAGS.has(name)) {
    out.stdout.write(`tickvault ${cliVersion()}\n`);
    return EXIT_CODES.ok;
  }
  if (HELP_FLAGS.has(name) || name === 'help') {
    const topic = args[0];
    if (topic === undefined) {
      out.stdout.write(overview(commands));
      return EXIT_CODES.ok;
    }
    const command = commands[topic];
    if (!command) return unknownCommand(topic, out);
    out.stdout.write(commandHelp(command));
    return EXIT_CODES.ok;
  }
  const command = commands[name];
  if (!command) return unknownCommand(name, out);
  if (asksForHelp(args)) {
    out.stdout.write(commandHelp(command));
    return EXIT_CODES.ok;
  }
  try {
    return await command.run([...args]);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.stderr.write(`tickvault ${name}: ${error.message}\n${synopsis(command.usage)}Run \`tickvault ${name} --help\` for more.\n`);
    return EXIT_CODES.usage;
  }
}

function unknownCommand(name: string, out: CliOutput): number {
  const hint = name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`;
  out.stderr.write(`tickvault: ${hint}\nusage: tickvault <command> [options]\nRun \`tickvault --help\` for the commands.\n`);
  return EXIT_CODES.usage;
}

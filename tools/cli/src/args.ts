import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line the command cannot act on: the dispatcher prints it with the command's usage line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * node:util's messages, shortened to their first sentence: "Unknown option '--x'. To specify a
 * positional argument starting with a '-', …" is advice about `--` that confuses more than it helps.
 */
function shortParseMessage(message: string): string {
  const [first = message] = message.split('. ');
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/** node:util parseArgs, strict, with its errors turned into UsageError. */
export function parseOptions<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(shortParseMessage((error as Error).message));
    throw error;
  }
}

/** For commands without options or arguments: anything given is a usage error rather than silently ignored. */
export function expectNoArguments(args: string[]): void {
  parseOptions(args, {});
}

/** An ISO-8601 instant given on the command line; a date without a zone would silently mean local time, so one is required. */
export function parseInstant(value: string, option: string): Date {
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(value) || /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = Date.parse(value);
  if (!hasZone || Number.isNaN(ms)) {
    throw new UsageError(`${option} must be an ISO-8601 instant with a zone, e.g. 2026-01-31T12:00:00Z (got "${value}")`);
  }
  return new Date(ms);
}

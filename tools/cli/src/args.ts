import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs, strict, with its errors turned into UsageError so commands can print usage and exit 2. */
export function parseOptions<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
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

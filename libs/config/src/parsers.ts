import { z } from 'zod';
import { parseConnectionUrl, TARGET_SESSION_ATTRS } from './connection-url.js';
import {
  SOURCE_ID_PATTERN,
  SYMBOL_PATTERNS,
  TIMEFRAMES,
  TimeframeSchema,
  type AssetClass,
  type Timeframe,
} from '@tickvault/schema';

/** Env values are strings; these turn them into typed values with messages an operator can act on. */

export const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

export const url = (protocols: readonly string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/**
 * A PostgreSQL URL with one host or several (`postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write`,
 * as libpq and postgres.js take them). `writes`: several hosts must say which one to use
 * (`target_session_attrs=read-write` or `primary`); without it the driver takes the first that answers,
 * which may be a read-only standby, and every write would fail there.
 */
export const postgresUrl = (options: { writes: boolean }) =>
  z.string().superRefine((value, ctx) => {
    const parsed = parseConnectionUrl(value);
    if (!parsed || !['postgres:', 'postgresql:'].includes(parsed.protocol)) {
      ctx.addIssue({ code: 'custom', message: 'must be a URL starting with postgres:// or postgresql:// (several hosts: postgres://user@host1:5432,host2:5432/db)' });
      return;
    }
    const badPort = parsed.hosts.find((h) => h.port !== undefined && !(Number(h.port) >= 1 && Number(h.port) <= 65535));
    if (badPort) ctx.addIssue({ code: 'custom', message: `port ${badPort.port} of ${badPort.host} is not a port (1-65535)` });
    const attrs = new URLSearchParams(parsed.search).get('target_session_attrs');
    if (attrs !== null && !(TARGET_SESSION_ATTRS as readonly string[]).includes(attrs)) {
      ctx.addIssue({ code: 'custom', message: `target_session_attrs must be one of ${TARGET_SESSION_ATTRS.join(', ')}` });
    } else if (options.writes && parsed.hosts.length > 1 && attrs !== 'read-write' && attrs !== 'primary') {
      ctx.addIssue({ code: 'custom', message: `lists ${parsed.hosts.length} hosts: add target_session_attrs=read-write so only the primary is used (a standby refuses writes)` });
    }
  });

/** "true"/"false" only: coercion would read "false" as true. */
export const bool = () => z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true');

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `must be one of ${values.join(', ')}` });

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

export const sourceList = () =>
  z
    .string()
    .transform(splitList)
    .superRefine((ids, ctx) => {
      for (const id of ids) {
        if (!SOURCE_ID_PATTERN.test(id)) ctx.addIssue({ code: 'custom', message: `"${id}" is not a source id (lowercase, e.g. sim)` });
      }
      if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', message: 'lists a source twice' });
    });

export const symbolList = (assetClass: AssetClass, example: string) =>
  z
    .string()
    .transform(splitList)
    .superRefine((symbols, ctx) => {
      for (const symbol of symbols) {
        if (!SYMBOL_PATTERNS[assetClass].test(symbol)) {
          ctx.addIssue({ code: 'custom', message: `"${symbol}" is not a ${assetClass} symbol in normalized form (e.g. ${example})` });
        }
      }
      if (new Set(symbols).size !== symbols.length) ctx.addIssue({ code: 'custom', message: 'lists a symbol twice' });
    });

// Two years of 1m candles; more belongs in the ticks table, and the SQL takes the count as int4.
const MAX_CANDLES_KEPT = 1_051_200;

/** "2000" or "2000,1m=10080,1d=3650": a default count, then per-timeframe overrides. */
export const candleRetention = () =>
  z.string().transform((value, ctx): Readonly<Record<Timeframe, number>> => {
    const [first = '', ...overrides] = splitList(value);
    const fallback = Number(first);
    const counts = {} as Record<Timeframe, number>;
    if (!/^\d+$/.test(first) || fallback < 10 || fallback > MAX_CANDLES_KEPT) {
      ctx.addIssue({ code: 'custom', message: `must start with a default count from 10 to ${MAX_CANDLES_KEPT}` });
      return z.NEVER;
    }
    for (const tf of TIMEFRAMES) counts[tf] = fallback;
    for (const item of overrides) {
      const match = /^([^=]+)=(\d+)$/.exec(item);
      const tf = TimeframeSchema.safeParse(match?.[1]);
      const count = Number(match?.[2]);
      if (!match || !tf.success || count < 10 || count > MAX_CANDLES_KEPT) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is not TIMEFRAME=COUNT with a timeframe of ${TIMEFRAMES.join('/')} and a count from 10 to ${MAX_CANDLES_KEPT}` });
        continue;
      }
      counts[tf.data] = count;
    }
    return Object.freeze(counts);
  });

/** "host:port,host:port": Redis Cluster seed nodes (IPv6 hosts in brackets: `[::1]:7000`); empty: none. */
export const clusterNodes = () =>
  z.string().transform((value, ctx): readonly { host: string; port: number }[] => {
    const nodes: { host: string; port: number }[] = [];
    for (const item of splitList(value)) {
      const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(item);
      const port = Number(match?.[2]);
      if (!match || !(port >= 1 && port <= 65535)) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port (port 1-65535)` });
        continue;
      }
      nodes.push({ host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port });
    }
    if (value.trim() !== '' && splitList(value).length === 0) ctx.addIssue({ code: 'custom', message: 'lists no node (host:port,host:port,…)' });
    return Object.freeze(nodes.map((n) => Object.freeze(n)));
  });

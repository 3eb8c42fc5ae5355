import type { Logger } from 'pino';
import { maskUrl, maskUrlsInText } from '@tickvault/config';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0..1: the share of each delay that is random, so replicas do not retry in lockstep. */
  jitter?: number;
}

export function backoffDelay(attempt: number, { initialMs, maxMs, jitter = 0.2 }: BackoffOptions): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter + Math.random() * jitter));
}

export interface WaitForOptions extends BackoffOptions {
  what: string;
  deadlineMs: number;
  /** One probe may take this long before it counts as failed (drivers can hang on a dead proxy). */
  attemptTimeoutMs?: number;
  signal?: AbortSignal;
  /** A reason waiting cannot help (a database that does not exist): the wait ends at once with it. */
  permanent?: (error: unknown) => string | undefined;
  onAttemptFailed: (info: { what: string; attempt: number; error: unknown; retryInMs: number }) => void;
}

/**
 * Calls `probe` until it succeeds or the deadline passes, doubling the pause each time.
 * Startup uses it so a service waits for its dependencies instead of crash-looping.
 */
export async function waitFor<T>(probe: () => Promise<T>, options: WaitForOptions): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTimeout(probe(), options.attemptTimeoutMs ?? 10_000, options.what);
    } catch (error) {
      const permanent = options.permanent?.(error);
      if (permanent !== undefined) throw new DependencyProblemError(options.what, permanent, error);
      const retryInMs = backoffDelay(attempt, options);
      if (Date.now() + retryInMs - started > options.deadlineMs || options.signal?.aborted) {
        throw new DependencyUnavailableError(options.what, attempt, error);
      }
      options.onAttemptFailed({ what: options.what, attempt, error, retryInMs });
      await sleep(retryInMs, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}

export interface Dependency {
  what: string;
  /** Where it is expected, named (password masked) in every line about it. */
  url?: string;
  probe: () => Promise<unknown>;
  /** See WaitForOptions.permanent. */
  permanent?: (error: unknown) => string | undefined;
}

/**
 * Startup: waits for each dependency in turn (doubling pauses from 250 ms to 10 s, each attempt
 * logged as "<what> at <url> not reachable yet (<reason>)") until `deadlineMs` has passed, then
 * throws DependencyUnavailableError for the caller to exit on; a permanent problem throws at once.
 */
export async function waitForDependencies(logger: Logger, deadlineMs: number, dependencies: readonly Dependency[]): Promise<void> {
  for (const { what, url, probe, permanent } of dependencies) {
    const where = url ? `${what} at ${maskUrl(url)}` : what;
    await waitFor(probe, {
      what: where,
      initialMs: 250,
      maxMs: 10_000,
      deadlineMs,
      ...(permanent ? { permanent } : {}),
      onAttemptFailed: ({ attempt, error, retryInMs }) =>
        logger.warn({ dependency: what, attempt, retryInMs, err: errorMessage(error) }, `${where} not reachable yet (${shortReason(error)})`),
    });
  }
}

/**
 * A connection error's code (ECONNREFUSED, ENOTFOUND, CONNECT_TIMEOUT) when there is one, since its
 * message only repeats the address; otherwise the message (a server's own words, such as SQLSTATE's).
 */
export function shortReason(error: unknown): string {
  const inner = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const code = (inner as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z_]+$/.test(code) ? code : errorMessage(error);
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export class DependencyUnavailableError extends Error {
  constructor(
    readonly what: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`${what} is unreachable after ${attempts} attempts: ${errorMessage(cause)}`);
    this.name = 'DependencyUnavailableError';
  }
}

/** A dependency answered with a problem that waiting cannot fix; the message says what to do. */
export class DependencyProblemError extends Error {
  constructor(
    readonly what: string,
    problem: string,
    override readonly cause: unknown,
  ) {
    super(`${what}: ${problem}`);
    this.name = 'DependencyProblemError';
  }
}

/** An error as one line for logs, with any password inside a quoted connection URL masked. */
export function errorMessage(error: unknown): string {
  return maskUrlsInText(rawMessage(error));
}

function rawMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return rawMessage(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code && !error.message.includes(String(code)) ? `${error.message} (${String(code)})` : error.message || String(code ?? error.name);
  }
  return String(error);
}

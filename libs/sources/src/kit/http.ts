/**
 * The one HTTP GET every provider's REST loop goes through. What it guarantees, whatever the server
 * does:
 * - one deadline for the whole exchange: connect, headers and the body read to its end (a server
 *   that sends headers and then nothing fails at the deadline instead of hanging the caller);
 * - a cap on the body's size, counted while it streams (a huge body is cut off, not read whole);
 * - the caller's signal aborts it at any point, with the caller's reason.
 * Retry, rate-limit and error policy stay with each provider; `parseRetryAfter` is shared.
 */

/** Bodies larger than this fail unless a client asks for another cap (a 100,000-row FRED page is ~10 MB). */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/** `parseRetryAfter` never answers more than this (a week: Binance bans last up to 3 days). */
export const MAX_RETRY_AFTER_MS = 7 * 24 * 60 * 60_000;

/** No complete answer (headers and the whole body) before the deadline. */
export class HttpTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly target: string,
  ) {
    super(`no complete answer in ${timeoutMs} ms (GET ${target})`);
    this.name = 'HttpTimeoutError';
  }
}

/** The body went past the cap; the rest of it was not read. */
export class HttpBodyTooLargeError extends Error {
  constructor(
    readonly maxBodyBytes: number,
    readonly target: string,
  ) {
    super(`body of GET ${target} is larger than the cap of ${maxBodyBytes} bytes`);
    this.name = 'HttpBodyTooLargeError';
  }
}

export interface HttpGetOptions {
  /** Connect, headers and the whole body. */
  timeoutMs: number;
  /** Default DEFAULT_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** The caller's signal: aborting it aborts the request with its reason. */
  signal?: AbortSignal;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /**
   * Statuses whose body is not wanted (a 429's, say): it is cancelled, not read, and `text` is ''.
   * Default: every body is read.
   */
  skipBody?: (status: number) => boolean;
}

export interface HttpAnswer {
  status: number;
  ok: boolean;
  headers: Headers;
  /** The body decoded as UTF-8 ('' when skipped). */
  text: string;
}

/**
 * GET `url`. Resolves with any status (policy is the caller's); rejects with the caller's abort
 * reason, an HttpTimeoutError, an HttpBodyTooLargeError, or fetch's own error for the network
 * (`TypeError: fetch failed` with the cause: ECONNREFUSED, ECONNRESET, ...).
 */
export async function httpGet(url: string, options: HttpGetOptions): Promise<HttpAnswer> {
  const { signal, timeoutMs } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  signal?.throwIfAborted();
  const target = describeUrl(url);
  // One controller per request, linked to the caller's (often long-lived) signal and unlinked
  // afterwards: AbortSignal.any on a signal that lives for days leaks on Node 20 (nodejs/node#55351).
  // It stays armed until the body has been read to its end.
  const request = new AbortController();
  const timer = setTimeout(() => request.abort(new HttpTimeoutError(timeoutMs, target)), timeoutMs);
  const onAbort = () => request.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await (options.fetch ?? fetch)(url, { signal: request.signal, headers: options.headers });
    if (options.skipBody?.(response.status)) {
      await response.body?.cancel().catch(() => {});
      return { status: response.status, ok: response.ok, headers: response.headers, text: '' };
    }
    const text = await readCapped(response, maxBodyBytes, target, request);
    return { status: response.status, ok: response.ok, headers: response.headers, text };
  } catch (error) {
    // Whatever fetch or the body stream made of an abort, say why it was aborted.
    if (request.signal.aborted) throw request.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

async function readCapped(response: Response, maxBodyBytes: number, target: string, request: AbortController): Promise<string> {
  const tooLarge = (): never => {
    const error = new HttpBodyTooLargeError(maxBodyBytes, target);
    request.abort(error);
    throw error;
  };
  const encoding = response.headers.get('content-encoding');
  const declared = Number(response.headers.get('content-length') ?? NaN);
  // Said up front (and not compressed, so the length is the body's): no need to start reading.
  if ((encoding === null || encoding === 'identity') && Number.isFinite(declared) && declared > maxBodyBytes) {
    await response.body?.cancel().catch(() => {});
    tooLarge();
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parts: string[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > maxBodyBytes) {
      await reader.cancel().catch(() => {});
      tooLarge();
    }
    parts.push(decoder.decode(value, { stream: true }));
  }
  parts.push(decoder.decode());
  return parts.join('');
}

/** The URL for a message: scheme, host and path. No credentials and no query (FRED's key rides in it). */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** `fetch failed` says nothing: the cause (ECONNREFUSED, ...) does. */
export function causeOf(error: Error): string {
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? error.message;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const LONG_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept.
const IMF_FIXDATE = /^([a-z]{3}),\s+(\d{2})\s+([a-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+gmt$/i;
const RFC850_DATE = /^([a-z]{6,9}),\s+(\d{2})-([a-z]{3})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\s+gmt$/i;
const ASCTIME_DATE = /^([a-z]{3})\s+([a-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\d{4})$/i;

/**
 * A `Retry-After` value (RFC 9110 §10.2.3) as milliseconds from `now`: delta-seconds (a decimal
 * fraction is tolerated) or an HTTP date (a date already past is 0). Undefined when absent, empty,
 * negative or unreadable, so the caller can apply its own default. Never more than `maxMs`.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now(), maxMs: number = MAX_RETRY_AFTER_MS): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(maxMs, Math.ceil(Number(text) * 1000));
  const at = parseHttpDate(text, now);
  return at === undefined ? undefined : Math.min(maxMs, Math.max(0, at - now));
}

/** An HTTP date (any of the three forms RFC 9110 admits) as epoch ms; undefined when it is none. */
export function parseHttpDate(text: string, now: number = Date.now()): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m) {
    if (!DAYS.includes(m[1]!.toLowerCase())) return undefined;
    return utc(Number(m[4]), m[3]!, Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  }
  m = RFC850_DATE.exec(text);
  if (m) {
    if (!LONG_DAYS.includes(m[1]!.toLowerCase())) return undefined;
    // A two-digit year more than 50 years ahead is the most recent past year with those digits.
    const twoDigits = Number(m[4]);
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + twoDigits;
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[3]!, Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  }
  m = ASCTIME_DATE.exec(text);
  if (m) {
    if (!DAYS.includes(m[1]!.toLowerCase())) return undefined;
    return utc(Number(m[7]), m[2]!, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  return undefined;
}

function utc(year: number, monthName: string, day: number, hour: number, minute: number, second: number): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const at = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  // 31 Feb and the like roll over into the next month: not a date.
  return new Date(at).getUTCDate() === day ? at : undefined;
}

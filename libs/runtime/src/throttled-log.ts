import type { Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * A logger for errors that repeat on every call while a dependency is unhealthy (Redis out of
 * memory fails each worker call; a reconnecting client errors each attempt). The first line per
 * message is written at once; repeats inside the window are counted into the next line of the same
 * error (`suppressedSinceLast`), so an outage costs a line a second per error, not thousands. Repeats
 * after the last line are not reported on their own.
 */
export function throttledLog(logger: Logger, level: LogLevel, windowMs: number, now: () => number = () => performance.now()) {
  const seen = new Map<string, { lastAt: number; suppressed: number }>();
  return (fields: Record<string, unknown> & { err: string }, message: string): void => {
    // Keyed on the message and the error text: a new kind of error is never held back by an old one.
    const key = `${message}\u0000${fields.err}`;
    const at = now();
    const entry = seen.get(key);
    if (entry && at - entry.lastAt < windowMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    seen.set(key, { lastAt: at, suppressed: 0 });
    // Bounded: only the distinct errors of one window are remembered.
    if (seen.size > 1000) for (const [k, v] of seen) if (at - v.lastAt >= windowMs) seen.delete(k);
    logger[level](suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields, message);
  };
}

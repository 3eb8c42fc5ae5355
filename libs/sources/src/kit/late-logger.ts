import type { SourceLogger } from '../source.js';

/**
 * The logger a source's REST client is made with, before any stream exists: its lines go to the
 * logger of the latest `stream()` call, and nowhere before the first one.
 */
export class LateLogger implements SourceLogger {
  private current: SourceLogger | undefined;

  use(logger: SourceLogger): void {
    this.current = logger;
  }

  info(obj: object, msg: string): void {
    this.current?.info(obj, msg);
  }

  warn(obj: object, msg: string): void {
    this.current?.warn(obj, msg);
  }

  error(obj: object, msg: string): void {
    this.current?.error(obj, msg);
  }
}

import type { EnvName } from '@tickvault/config';

export interface Command {
  /** One line for the command list of `tickvault --help`. */
  summary: string;
  /**
   * What `tickvault <command> --help` prints: the synopsis ("usage: tickvault <command> …", up to the
   * first blank line, which is also printed after a usage error), then what it does and its options.
   */
  usage: string;
  /** The variables the command reads itself, listed by --help (and passed by compose's `cli` service). */
  env: readonly EnvName[];
  /**
   * Resolves to the process exit code: 0 ok, 1 failed. Arguments it cannot act on throw UsageError
   * before anything is done (exit 2); --help never reaches it.
   */
  run(args: string[]): Promise<number>;
}

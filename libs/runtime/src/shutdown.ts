import type { Logger } from 'pino';
import { errorMessage } from './backoff.js';

/**
 * A service that cannot start (a port in use, a dependency missing) says why in its one `cannot start`
 * line and exits 1: no stack trace, the message names what to change.
 */
export function exitCannotStart(logger: Logger, error: unknown): never {
  logger.fatal({ err: errorMessage(error) }, 'cannot start');
  logger.flush?.();
  process.exit(1);
}

export interface ShutdownStep {
  name: string;
  run: () => Promise<void> | void;
}

/**
 * Runs the steps in order on SIGTERM/SIGINT (or a fatal error), all raced against one hard timeout.
 * Order matters: mark not-ready, stop taking work, finish the work in hand, then close connections.
 */
export function installShutdown(options: {
  logger: Logger;
  timeoutMs: number;
  steps: () => ShutdownStep[];
  exit?: (code: number) => void;
}): { shutdown: (reason: string, code?: number) => Promise<void> } {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let started: Promise<void> | undefined;

  const shutdown = (reason: string, code = 0): Promise<void> => {
    if (started) return started;
    options.logger.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out; exiting with work unfinished');
      exit(1);
    }, options.timeoutMs);
    timer.unref();
    started = (async () => {
      let exitCode = code;
      for (const step of options.steps()) {
        try {
          await step.run();
          options.logger.debug({ step: step.name }, 'shutdown step done');
        } catch (error) {
          exitCode = 1;
          options.logger.error({ step: step.name, err: errorMessage(error) }, 'shutdown step failed');
        }
      }
      clearTimeout(timer);
      options.logger.info({ exitCode }, 'stopped');
      options.logger.flush?.();
      exit(exitCode);
    })();
    return started;
  };

  // A second signal (a supervisor forwarding the terminal's Ctrl-C again) must not cut the drain
  // short: it is logged and ignored; the hard timeout still bounds the whole shutdown.
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) options.logger.warn({ signal }, 'already shutting down');
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A fatal error is logged and the process drains and exits: carrying on in an unknown state is worse.
  process.on('uncaughtException', (error) => {
    options.logger.fatal({ err: error }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (error) => {
    options.logger.fatal({ err: error }, 'unhandled rejection');
    void shutdown('unhandledRejection', 1);
  });
  return { shutdown };
}

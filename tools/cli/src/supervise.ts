import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const REPEAT_SIGNAL_GRACE_MS = 1000;
// A service loads and checks its configuration in a few seconds (up to ~15 s seen on a busy 2-core
// machine); one that takes longer than this after another failed is stopped without its report.
const CONFIG_CHECK_WAIT_MS = 60_000;
const CONFIG_CHECK_POLL_MS = 200;

export interface SupervisedProcess {
  name: string;
  /** A TypeScript or JavaScript entry point, run as `node --import tsx <entry>`. */
  entry: string;
  /** Variables for this process only, on top of the shared environment. */
  env?: Record<string, string>;
  /**
   * Whether the process is past its configuration checks (a service's health server answers). When
   * another process exits on its own, this one is stopped only once that is so, or once it exits, so
   * every process reports its configuration problems instead of only the first to fail.
   */
  checked?: () => Promise<boolean>;
}

export interface SuperviseOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  stdout?: Writable;
  stderr?: Writable;
  /** Where SIGINT/SIGTERM/SIGHUP are heard; the process itself unless a test passes its own emitter. */
  signals?: EventEmitter;
}

/**
 * Runs every process as a child with its output prefixed by its name, and keeps them as one unit:
 * a signal stops all of them gracefully, and one exiting on its own stops the rest (each once it is
 * past its configuration checks, see `checked`).
 * Resolves to 0 when all were stopped by a signal and exited 0, else 1.
 */
export function supervise(processes: readonly SupervisedProcess[], options: SuperviseOptions): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const signals = options.signals ?? process;
  const width = Math.max(...processes.map((p) => p.name.length));
  const label = (name: string) => `${name.padEnd(width)} | `;
  const note = (text: string) => stderr.write(`${''.padEnd(width)} | ${text}\n`);

  const running = new Map<string, ChildProcess>();
  // Told to stop by us: each child gets one stop signal (a second one would be logged as a repeat).
  const told = new Set<string>();
  let stopping = false;
  let stoppingSince = 0;
  let forced = false;
  let failed = false;

  const stop = (name: string, signal: NodeJS.Signals) => {
    const child = running.get(name);
    if (!child || told.has(name)) return;
    told.add(name);
    child.kill(signal);
  };
  const stopAll = (signal: NodeJS.Signals) => {
    for (const name of running.keys()) stop(name, signal);
  };
  const stopOnceChecked = async (name: string) => {
    const checked = processes.find((p) => p.name === name)?.checked;
    const deadline = Date.now() + CONFIG_CHECK_WAIT_MS;
    if (checked) {
      while (running.has(name) && !told.has(name) && Date.now() < deadline && !(await checked())) {
        await new Promise((resolve) => setTimeout(resolve, CONFIG_CHECK_POLL_MS));
      }
    }
    stop(name, 'SIGTERM');
  };

  const onSignal = (signal: NodeJS.Signals) => {
    // A hangup means the terminal is gone; the services know SIGINT and SIGTERM only.
    const forward = signal === 'SIGHUP' ? 'SIGTERM' : signal;
    if (!stopping) {
      stopping = true;
      stoppingSince = Date.now();
      note(`${signal}: stopping ${[...running.keys()].join(', ')} (again to force)`);
      stopAll(forward);
      return;
    }
    const untold = [...running.keys()].filter((name) => !told.has(name));
    if (untold.length > 0) {
      // Stopping after a failure, some still finishing their configuration checks: stop them now.
      stoppingSince = Date.now();
      note(`${signal}: stopping ${untold.join(', ')} (again to force)`);
      stopAll(forward);
      return;
    }
    // One Ctrl-C under `npm run` arrives more than once (from the terminal, then relayed by npm and
    // tsx), within milliseconds: only a signal well after the first is a person asking to force.
    if (Date.now() - stoppingSince < REPEAT_SIGNAL_GRACE_MS) return;
    if (!forced) {
      forced = true;
      failed = true;
      note(`${signal} again: killing ${[...running.keys()].join(', ')}`);
      for (const child of running.values()) child.kill('SIGKILL');
    }
  };
  const handlers = SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of handlers) signals.on(signal, handler);
  // Should this process end while children run (a crash, a closed output pipe), they are told to stop too.
  const onExit = () => stopAll('SIGTERM');
  process.on('exit', onExit);

  return new Promise((resolve) => {
    const exited = (name: string, outcome: string, ok: boolean) => {
      running.delete(name);
      if (!stopping) {
        stopping = true;
        failed = true;
        const rest = [...running.keys()];
        const waits = rest.some((other) => processes.find((p) => p.name === other)?.checked);
        note(`${name} exited unexpectedly (${outcome}); stopping ${rest.join(', ') || 'nothing else'}${waits ? ' once each has checked its configuration' : ''}`);
        for (const other of rest) void stopOnceChecked(other);
      } else if (!ok) {
        failed = true;
        note(`${name} exited with ${outcome}`);
      }
      if (running.size === 0) {
        for (const [signal, handler] of handlers) signals.off(signal, handler);
        process.off('exit', onExit);
        resolve(failed ? 1 : 0);
      }
    };

    for (const { name, entry, env } of processes) {
      const child = spawn(process.execPath, ['--import', 'tsx', entry], {
        cwd: options.cwd,
        env: { ...(options.env ?? process.env), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // A process group of its own: Ctrl-C reaches only us, and each child gets exactly one signal,
        // from us. The services handle the first SIGINT gracefully but die on a second one, which is
        // what they would get if the terminal's SIGINT reached them as well as the forwarded one.
        detached: true,
      });
      running.set(name, child);
      createInterface({ input: child.stdout! }).on('line', (line) => stdout.write(`${label(name)}${line}\n`));
      createInterface({ input: child.stderr! }).on('line', (line) => stderr.write(`${label(name)}${line}\n`));
      let done = false;
      // 'close' comes after the child's output has been read to the end, so no line is lost.
      child.on('close', (code, signal) => {
        if (done) return;
        done = true;
        exited(name, signal ? `signal ${signal}` : `code ${code}`, code === 0);
      });
      child.on('error', (error) => {
        // Spawning failed: there is no process, and 'close' may not follow.
        if (done) return;
        done = true;
        exited(name, `error ${error.message}`, false);
      });
    }
  });
}

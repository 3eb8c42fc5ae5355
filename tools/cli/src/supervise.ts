import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { nodeArgs } from './commands/services.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const REPEAT_SIGNAL_GRACE_MS = 1000;
// A service loads and checks its configuration in a few seconds (up to ~15 s seen on a busy 2-core
// machine); one that takes longer than this after another failed is stopped without its report.
const CONFIG_CHECK_WAIT_MS = 60_000;
const CONFIG_CHECK_POLL_MS = 200;
// Readiness is a local HTTP or TCP probe: polling it this often costs nothing and starts the next ones promptly.
const READY_POLL_MS = 200;
// A dependency slower than this to become ready gets one line saying what waits for it.
const READY_NOTE_AFTER_MS = 30_000;

export interface SupervisedProcess {
  name: string;
  /** A TypeScript entry point (run as `node --import tsx <entry>`) or a built JavaScript one (`node <entry>`). */
  entry: string;
  /** Variables for this process only, on top of the shared environment. */
  env?: Record<string, string>;
  /**
   * Whether the process is past its configuration checks (a service's health server answers). When
   * another process exits on its own, this one is stopped only once that is so, or once it exits, so
   * every process reports its configuration problems instead of only the first to fail.
   */
  checked?: () => Promise<boolean>;
  /**
   * Makes this process a dependency of the ones listed after it: they start once this returns true
   * (polled; e.g. a service's /readyz answers 200), and on the way down they are stopped, and gone,
   * before this one is told to stop. Without it, processes start together and stop together.
   */
  ready?: () => Promise<boolean>;
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
 * past its configuration checks, see `checked`). Processes after one with `ready` start once it is
 * ready and stop before it: dependencies first up, last down.
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
  // Start order: each stage ends with a process that has `ready`; the next stage waits for it.
  const stages: SupervisedProcess[][] = [[]];
  for (const p of processes) {
    stages.at(-1)!.push(p);
    if (p.ready) stages.push([]);
  }
  if (stages.at(-1)!.length === 0) stages.pop();
  // Resolved when the child is gone (its output read to the end).
  const gone = new Map<string, Promise<void>>();
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
  /** Stops the running processes stage by stage, the last started first, each stage once the later ones are gone. */
  const stopInOrder = async (stopOne: (name: string) => void | Promise<void>) => {
    for (const stage of [...stages].reverse()) {
      const live = stage.map((p) => p.name).filter((name) => running.has(name));
      await Promise.all(live.map((name) => stopOne(name)));
      await Promise.all(live.map((name) => gone.get(name)));
    }
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
      note(`${signal}: stopping ${[...running.keys()].join(', ')}${stages.length > 1 ? ', dependencies last' : ''} (again to force)`);
      void stopInOrder((name) => stop(name, forward));
      return;
    }
    // The same signal relayed by npm and tsx (see below) must not cut the ordered stop short.
    if (Date.now() - stoppingSince < REPEAT_SIGNAL_GRACE_MS) return;
    const untold = [...running.keys()].filter((name) => !told.has(name));
    if (untold.length > 0) {
      // Stopping after a failure, some still finishing their configuration checks, or waiting for
      // their turn in the stop order: stop them now.
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
        void stopInOrder(stopOnceChecked);
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

    const spawnOne = ({ name, entry, env }: SupervisedProcess) => {
      const child = spawn(process.execPath, nodeArgs(entry), {
        cwd: options.cwd,
        env: { ...(options.env ?? process.env), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // A process group of its own: Ctrl-C reaches only us, and each child gets exactly one signal,
        // from us. The services handle the first SIGINT gracefully but die on a second one, which is
        // what they would get if the terminal's SIGINT reached them as well as the forwarded one.
        detached: true,
      });
      running.set(name, child);
      let markGone!: () => void;
      gone.set(name, new Promise<void>((resolve) => (markGone = resolve)));
      createInterface({ input: child.stdout! }).on('line', (line) => stdout.write(`${label(name)}${line}\n`));
      createInterface({ input: child.stderr! }).on('line', (line) => stderr.write(`${label(name)}${line}\n`));
      let done = false;
      // 'close' comes after the child's output has been read to the end, so no line is lost.
      child.on('close', (code, signal) => {
        if (done) return;
        done = true;
        markGone();
        exited(name, signal ? `signal ${signal}` : `code ${code}`, code === 0);
      });
      child.on('error', (error) => {
        // Spawning failed: there is no process, and 'close' may not follow.
        if (done) return;
        done = true;
        markGone();
        exited(name, `error ${error.message}`, false);
      });
    };

    /** Whether `dependency` became ready; false when it exited or a stop began first. */
    const becameReady = async (dependency: SupervisedProcess, waiting: readonly string[]): Promise<boolean> => {
      const since = Date.now();
      let noted = false;
      while (!stopping && running.has(dependency.name)) {
        if (await dependency.ready!()) return !stopping && running.has(dependency.name);
        if (!noted && Date.now() - since > READY_NOTE_AFTER_MS) {
          noted = true;
          note(`${waiting.join(', ')} wait for ${dependency.name} to be ready`);
        }
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      }
      return false;
    };

    void (async () => {
      for (const [index, stage] of stages.entries()) {
        if (index > 0) {
          const dependency = stages[index - 1]!.at(-1)!;
          const names = stage.map((p) => p.name);
          if (!(await becameReady(dependency, names))) return;
          note(`${dependency.name} is ready; starting ${names.join(', ')}`);
        }
        for (const p of stage) spawnOne(p);
      }
    })();
  });
}

import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const REPEAT_SIGNAL_GRACE_MS = 1000;

export interface SupervisedProcess {
  name: string;
  /** A TypeScript or JavaScript entry point, run as `node --import tsx <entry>`. */
  entry: string;
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
 * a signal stops all of them gracefully, and one exiting on its own stops the rest.
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
  let stopping = false;
  let stoppingSince = 0;
  let forced = false;
  let failed = false;

  const stopAll = (signal: NodeJS.Signals) => {
    for (const child of running.values()) child.kill(signal);
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      stopping = true;
      stoppingSince = Date.now();
      note(`${signal}: stopping ${[...running.keys()].join(', ')} (again to force)`);
      // A hangup means the terminal is gone; the services know SIGINT and SIGTERM only.
      stopAll(signal === 'SIGHUP' ? 'SIGTERM' : signal);
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
        note(`${name} exited unexpectedly (${outcome}); stopping ${[...running.keys()].join(', ') || 'nothing else'}`);
        stopAll('SIGTERM');
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

    for (const { name, entry } of processes) {
      const child = spawn(process.execPath, ['--import', 'tsx', entry], {
        cwd: options.cwd,
        env: options.env ?? process.env,
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

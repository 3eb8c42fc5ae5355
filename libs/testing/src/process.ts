import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

/** A service started as its own process (from source, or a built dist/*.js), logging JSON, with its log lines kept for assertions. */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly output: string[] = [];
  /** Output lines that are not JSON log lines: a raw stack trace, a library's console.error, a Node warning. */
  readonly notJson: string[] = [];
  /** Resolves once the process has exited and all its output has been read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(entry: string, env: Record<string, string>) {
    // A built file (dist/*.js) runs as it is; TypeScript through tsx, in this one process.
    this.child = spawn(process.execPath, entry.endsWith('.js') ? [entry] : ['--import', 'tsx', entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', NODE_ENV: 'test', DATA_ENVIRONMENT: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Whole lines: a long JSON line can arrive in several chunks.
    const collect = (text: string) => {
      if (!text.trim()) return;
      this.output.push(text);
      try {
        this.lines.push(JSON.parse(text) as LogLine);
      } catch {
        this.notJson.push(text);
      }
    };
    createInterface({ input: this.child.stdout! }).on('line', collect);
    createInterface({ input: this.child.stderr! }).on('line', collect);
    // 'close' comes after 'exit' and after both output streams ended, so no line is still on its way.
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Resolves with the first log line matching, or rejects with the output so far after `timeoutMs`. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        // Its last lines may still be on their way.
        await this.exited;
        const last = this.lines.find(predicate);
        if (last) return last;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`log line not seen; process output:\n${this.output.slice(-40).join('\n')}`);
  }

  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../../${relative}`, import.meta.url));
}

/** Polls until `check` returns a truthy value; fails with `what` after the timeout. */
export async function eventually<T>(check: () => Promise<T | undefined | false | null> | T | undefined | false | null, what: string, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Runs a TypeScript entry (a CLI) to its end through tsx with `env` on top of this process's, collecting its output. */
export function runEntry(entry: string, args: string[], env: Record<string, string>, timeoutMs = 300_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

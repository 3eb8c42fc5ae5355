import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../commands/services.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI as a user would (its own process, through tsx) with the given environment on top
 * of the test runner's, and collects its output. For specs only.
 */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/cli/src/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tickvault ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The lines of doctor's output, by check name: "ok", "warn", "FAIL" or "skip" and the detail. */
export function doctorLines(stdout: string): Map<string, { status: string; detail: string }> {
  const lines = new Map<string, { status: string; detail: string }>();
  for (const line of stdout.split('\n')) {
    const match = /^(ok|warn|FAIL|skip)\s+(.+?)\s{2,}(.*)$/.exec(line);
    if (match) lines.set(match[2]!, { status: match[1]!, detail: match[3]! });
  }
  return lines;
}

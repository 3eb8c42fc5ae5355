import net from 'node:net';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DependencyProblemError, DependencyUnavailableError, errorMessage, waitForDependencies } from './backoff.js';

describe('errorMessage', () => {
  it('masks a password a driver quotes in its message and keeps the code', () => {
    const error = Object.assign(new Error('connect failed for redis://:s3cret@10.0.0.5:6379'), { code: 'ECONNREFUSED' });
    expect(errorMessage(error)).toBe('connect failed for redis://:***@10.0.0.5:6379 (ECONNREFUSED)');
    expect(errorMessage(new AggregateError([new Error('postgres://u:pw@h/db down')]))).toBe('postgres://u:***@h/db down');
  });
});

describe('backoffDelay', () => {
  it('doubles up to the cap, with bounded jitter', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 2000, jitter: 0.2 });
      const base = Math.min(2000, 100 * 2 ** (attempt - 1));
      expect(delay).toBeGreaterThanOrEqual(base * 0.8 - 1);
      expect(delay).toBeLessThanOrEqual(base);
    }
  });
});

describe('waitForDependencies', () => {
  function capture() {
    const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const at = (level: string) => (fields: Record<string, unknown>, msg: string) => lines.push({ level, fields, msg });
    return { lines, logger: { warn: at('warn'), info: at('info'), error: at('error') } as unknown as Logger };
  }
  // A real refused connection: nothing listens on port 1 of loopback.
  const refusedProbe = () =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect(1, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(); });
      socket.once('error', reject);
    });

  it('says "<what> at <url> not reachable yet (<code>)" per attempt, password masked, and names the URL when it gives up', async () => {
    const { lines, logger } = capture();
    const error = await waitForDependencies(logger, 2_000, [{ what: 'Redis', url: 'redis://:Secret9@127.0.0.1:1', probe: refusedProbe }]).catch((e: unknown) => e);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) {
      expect(line.level).toBe('warn');
      expect(line.msg).toBe('Redis at redis://:***@127.0.0.1:1 not reachable yet (ECONNREFUSED)');
    }
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 is unreachable after \d+ attempts: connect ECONNREFUSED 127\.0\.0\.1:1/);
    expect(JSON.stringify(lines) + String(error)).not.toContain('Secret9');
  });

  it('ends at once, without a retry, when the problem is one waiting cannot fix', async () => {
    const { lines, logger } = capture();
    const missing = Object.assign(new Error('database "nope" does not exist'), { code: '3D000' });
    let probes = 0;
    const error = await waitForDependencies(logger, 60_000, [
      { what: 'Postgres', url: 'postgres://u:pw@127.0.0.1/nope', probe: () => { probes++; return Promise.reject(missing); }, permanent: (e) => ((e as { code?: string }).code === '3D000' ? 'run migrate' : undefined) },
    ]).catch((e: unknown) => e);
    expect(probes).toBe(1);
    expect(lines).toEqual([]);
    expect(error).toBeInstanceOf(DependencyProblemError);
    expect((error as Error).message).toBe('Postgres at postgres://u:***@127.0.0.1/nope: run migrate');
  });
});

import { describe, expect, it } from 'vitest';
import { runCli } from '../testing/run-cli.js';

describe('tickvault start', () => {
  it('refuses to start with one line per unreachable dependency, password masked, exit 1', async () => {
    const result = await runCli(['start'], {
      DATABASE_URL: 'postgres://postgres:PgSecret9@127.0.0.1:1/tickvault',
      REDIS_URL: 'redis://:RdSecret9@127.0.0.1:2',
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      'Postgres is not reachable at postgres://postgres:***@127.0.0.1:1/tickvault (ECONNREFUSED). ' +
        'Start it (e.g. `docker compose up -d postgres redis`, or your system service) or set DATABASE_URL.',
      'Redis is not reachable at redis://:***@127.0.0.1:2 (ECONNREFUSED). ' +
        'Start it (e.g. `docker compose up -d postgres redis`, or your system service) or set REDIS_URL.',
    ]);
    expect(result.stdout).toBe('');
  });
});

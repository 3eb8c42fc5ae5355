import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { configProblems, planPorts, portIsFree } from './start-plan.js';
import type { ServiceName } from './services.js';

const held: net.Server[] = [];
afterEach(async () => {
  for (const server of held.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A port taken by someone else, as a stale process or another stack would hold it. */
async function takenPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  held.push(server);
  return (server.address() as net.AddressInfo).port;
}

/** A port that is free now (bound and released). */
async function freeNow(): Promise<number> {
  const port = await takenPort();
  await new Promise((resolve) => held.pop()!.close(resolve));
  return port;
}

const ALL: ServiceName[] = ['writer', 'ingest-crypto', 'ingest-stock', 'ingest-macro', 'dashboard', 'scheduler'];

describe('planPorts', () => {
  it('keeps a free default port, and gives a service whose default is taken another free one, saying so in one line', async () => {
    const busy = await takenPort();
    const free = await freeNow();
    const plan = await planPorts(['writer', 'scheduler'], { HEALTH_HOST: '127.0.0.1' }, { writer: busy, scheduler: free } as Record<ServiceName, number>);
    expect(plan.problems).toEqual([]);
    expect(plan.healthPorts.scheduler).toBe(free);
    const instead = plan.healthPorts.writer!;
    expect(instead).not.toBe(busy);
    expect(await portIsFree('127.0.0.1', instead)).toBe(true);
    expect(plan.env).toEqual({ writer: { HEALTH_PORT: String(instead) }, scheduler: { HEALTH_PORT: String(free) } });
    expect(plan.notes).toEqual([`writer: health port ${busy} is in use; using ${instead} for its /livez, /readyz and /metrics`]);
  });

  it('moves the dashboard off a taken port when DASHBOARD_PORT is unset, and refuses a taken DASHBOARD_PORT the user chose', async () => {
    // The dashboard's default, 3000, may be free or not on this machine: a held port stands in for it only when it is the user's choice.
    const busy = await takenPort();
    const chosen = await planPorts(['dashboard'], { HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PORT: String(busy) }, { dashboard: 1 } as Record<ServiceName, number>);
    expect(chosen.problems).toEqual([`DASHBOARD_PORT=${busy}: port ${busy} on 127.0.0.1 is already in use; set DASHBOARD_PORT to a free port (0 picks one)`]);

    const unset = await planPorts(['dashboard'], { HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0', DASHBOARD_HOST: '127.0.0.1' }, { dashboard: 1 } as Record<ServiceName, number>, async (_host, port) => port !== 3000);
    expect(unset.problems).toEqual([]);
    const instead = Number(unset.env.dashboard?.DASHBOARD_PORT);
    expect(instead).toBeGreaterThan(0);
    expect(unset.notes).toEqual([`dashboard: port 3000 is in use; serving on ${instead} instead (set DASHBOARD_PORT to choose)`]);
  });

  it('gives each service a different free port for HEALTH_PORT=0, and refuses one HEALTH_PORT for all of them', async () => {
    const defaults = { writer: 9101, 'ingest-crypto': 9102, 'ingest-stock': 9103, 'ingest-macro': 9104, dashboard: 9105, scheduler: 9106 };
    const any = await planPorts(ALL, { HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0', DASHBOARD_PORT: '0' }, defaults);
    const ports = Object.values(any.healthPorts);
    expect(ports).toHaveLength(6);
    expect(new Set(ports).size).toBe(6);
    expect(any.notes).toEqual([]);

    const one = await planPorts(ALL, { HEALTH_PORT: '9200' }, defaults);
    expect(one.problems).toEqual([
      'HEALTH_PORT=9200 would give every service the same port: unset it (each takes its own, 9101-9106, or a free one) or set it to 0',
    ]);
  });
});

describe('configProblems', () => {
  it("lists every service's problems at once, a shared variable once with the services it stops", () => {
    const problems = configProblems(ALL, {
      REDIS_URL: 'http://not-redis',
      WRITER_CONCURRENCY: 'many',
      INGEST_BATCH_MAX_TICKS: '-5',
      DASHBOARD_PORT: 'abc',
    });
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('REDIS_URL:'))).toMatch(/\[every service\]$/);
    expect(problems.find((p) => p.startsWith('WRITER_CONCURRENCY:'))).toMatch(/\(got "many"\) \[writer\]$/);
    expect(problems.find((p) => p.startsWith('INGEST_BATCH_MAX_TICKS:'))).toMatch(/\[ingest-crypto, ingest-stock, ingest-macro\]$/);
    expect(problems.find((p) => p.startsWith('DASHBOARD_PORT:'))).toMatch(/\[dashboard\]$/);
  });

  it('is empty for a configuration every service accepts', () => {
    expect(configProblems(ALL, { DASHBOARD_PASSWORD: 'a-long-enough-password-1' })).toEqual([]);
  });
});

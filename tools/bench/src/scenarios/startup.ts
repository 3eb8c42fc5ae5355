import { SERVICES, type ServiceName } from '@tickvault/config';
import { ServiceProcess, repoPath } from '@tickvault/testing';
import { log, record, resetState, serviceEnv, type BenchContext } from '../lib.js';

export interface StartupOptions {
  /** Starts per service and form; the median is reported (the first start of the TypeScript form also fills tsx's cache). */
  runs: number;
}

// Each service with sources that need nothing outside this machine (the seeded simulators).
const EXTRA_ENV: Partial<Record<ServiceName, Record<string, string>>> = {
  'ingest-crypto': { CRYPTO_SOURCES: 'sim', DATA_ENVIRONMENT: 'demo' },
  'ingest-stock': { STOCK_SOURCES: 'sim', DATA_ENVIRONMENT: 'demo' },
  'ingest-macro': { MACRO_SOURCES: 'sim', DATA_ENVIRONMENT: 'demo' },
  dashboard: { DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PASSWORD: 'bench-startup-password' },
  scheduler: { CRYPTO_SOURCES: 'sim', DATA_ENVIRONMENT: 'demo' },
};

/**
 * Start-up time, launch → ready (`/readyz` answering 200), of every service run two ways: its TypeScript
 * through tsx (development, and the image before the build) and the built dist/<name>.js with plain node
 * (`npm start` and the image now). Run `npm run build` first (this scenario builds if dist/ is missing).
 */
export async function startup(ctx: BenchContext, o: StartupOptions): Promise<void> {
  // eslint-disable-next-line @nx/enforce-module-boundaries -- tools/build is the build script, not a workspace: it bundles the workspaces
  const { buildAll } = await import('../../../build/build.mjs');
  await buildAll({ quiet: true });
  log(`start-up: every service, TypeScript through tsx vs built JavaScript, ${o.runs} starts each`);
  for (const name of Object.keys(SERVICES) as ServiceName[]) {
    const forms = { tsx: repoPath(SERVICES[name].entry), built: repoPath(`dist/${name}.js`) };
    const medians: Record<string, number> = {};
    for (const [form, entry] of Object.entries(forms)) {
      const times: number[] = [];
      for (let run = 0; run < o.runs; run++) {
        await resetState(ctx);
        times.push(await launchToReady(ctx, name, entry));
      }
      times.sort((a, b) => a - b);
      medians[form] = times[Math.floor(times.length / 2)]!;
      record(ctx, { scenario: 'startup', metric: `${name}: launch → ready, ${form}`, value: medians[form], unit: 'ms', note: `median of ${o.runs}: ${times.map((t) => Math.round(t)).join(', ')}` });
    }
    record(ctx, { scenario: 'startup', metric: `${name}: built / tsx`, value: medians.built! / medians.tsx!, unit: '×' });
  }
}

async function launchToReady(ctx: BenchContext, name: ServiceName, entry: string): Promise<number> {
  const launched = performance.now();
  const service = new ServiceProcess(entry, { ...serviceEnv(ctx, { LOG_LEVEL: 'info' }), ...EXTRA_ENV[name] });
  try {
    const started = await service.waitForLog((l) => l.msg === `${name} started`, 120_000);
    const port = started.healthPort as number;
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
      if (ready) return performance.now() - launched;
      if (performance.now() - launched > 120_000) throw new Error(`${name} not ready 120 s after launch`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await service.stop();
  }
}

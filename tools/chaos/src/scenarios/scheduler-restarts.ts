import { Queue } from 'bullmq';
import { JOB_NAMES, QUEUE_NAMES } from '@tickvault/schema';
import { ENTRIES, type Run } from '../lib.js';

/**
 * 8. The scheduler restarted ten times, some by SIGKILL in the middle of its startup (while it
 * upserts its job schedulers), the last two at once: exactly one job scheduler and one delayed job per
 * configured id must remain, and a scheduler id no longer configured must be gone. (The scheduler's
 * end-to-end test checks the clean-restart case; this adds kills.)
 */
export async function schedulerRestarts(run: Run): Promise<void> {
  const db = await run.database('sched');
  const prefix = run.prefix();
  const connection = run.redis(run.settings.redisUrl);
  const maintenance = new Queue(QUEUE_NAMES.maintenance, { connection, prefix });
  run.defer(() => maintenance.close());
  await maintenance.upsertJobScheduler('retired-report', { pattern: '0 5 * * *', tz: 'UTC' }, { name: JOB_NAMES.health, data: {} });
  const env = {
    DATABASE_URL: db.url, REDIS_URL: run.settings.redisUrl, QUEUE_PREFIX: prefix,
    CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT', STOCK_SOURCES: '', MACRO_SOURCES: '',
    GAP_FILL_CRON: '0 3 1 1 *', HEALTH_CRON: '0 4 1 1 *',
  };
  const start = () => run.service(ENTRIES.scheduler, env);
  const kills: number[] = [];
  let cleanStops = 0;
  let killedInStartup = 0;
  let startupMs = 3000;
  for (let i = 0; i < 8; i++) {
    const proc = start();
    if (i % 3 === 1) {
      // Killed at a random moment before the time the last clean start took to log "started":
      // while Node loads, while it connects, or while it upserts its job schedulers.
      await new Promise((r) => setTimeout(r, startupMs * (0.4 + 0.6 * Math.random())));
      proc.kill('SIGKILL');
      await proc.exited;
      kills.push(i + 1);
      if (!proc.lines.some((l) => l.msg === 'scheduler started')) killedInStartup++;
    } else {
      const spawned = Date.now();
      await proc.waitForLog((l) => l.msg === 'scheduler started', 60_000);
      startupMs = Date.now() - spawned;
      const exit = await proc.stop();
      run.check(exit.code === 0, `restart ${i + 1}: exit code ${exit.code}`);
      cleanStops++;
    }
  }
  const pair = [start(), start()];
  await Promise.all(pair.map((p) => p.waitForLog((l) => l.msg === 'scheduler started', 60_000)));
  const exits = await Promise.all(pair.map((p) => p.stop()));
  run.check(exits.every((e) => e.code === 0), `the concurrent pair exited with ${exits.map((e) => e.code).join(', ')}`);

  const schedulers = (await maintenance.getJobSchedulers(0, -1)).map((s) => s.id ?? s.key).sort();
  const delayed = (await maintenance.getJobs(['delayed'])).map((j) => j.name).sort();
  const expected = [JOB_NAMES.gapFill, JOB_NAMES.health].sort();
  run.figure('starts: SIGKILLed (before "started") / clean stops / concurrent pair', `10: ${kills.length} (${killedInStartup}) / ${cleanStops} / 2`);
  run.figure('job schedulers / delayed jobs', `${schedulers.join(', ')} / ${delayed.join(', ')}`);
  run.check(JSON.stringify(schedulers) === JSON.stringify(expected), `job schedulers are ${schedulers.join(', ')} (expected ${expected.join(', ')})`);
  run.check(JSON.stringify(delayed) === JSON.stringify(expected), `delayed jobs are ${delayed.join(', ')} (expected one per scheduler)`);
}

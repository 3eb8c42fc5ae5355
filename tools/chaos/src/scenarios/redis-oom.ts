import {
  ENTRIES, ReadinessWatch, checkLedger, readiness, countTicks, metricValue, msgIncludes, queueCounts, reportLedger, scrape, seconds, sleep, waitDrained, waitFor,
  writerEnv, type Run,
} from '../lib.js';
import { earliest, simLedger, simStarts, simSymbols } from '../sim-ledger.js';

const SEED = 13;

/**
 * 6. Redis runs out of memory under noeviction: its own redis-server, whose maxmemory is set just
 * above what it uses once the real ingest service (sim source) is queueing with no writer running.
 * Adds fail with OOM; the ingest outbox must say so (log, readiness, buffered gauge) and keep the
 * ticks. A writer started while Redis is still full shows whether the queue can drain by itself.
 * Then memory is freed (maxmemory raised, as an operator would) and every tick the sim produced must
 * be stored, except those the outbox counted as dropped (full form: a small buffer overflows).
 */
export async function redisOom(run: Run): Promise<void> {
  const oomMs = run.size(12_000, 120_000);
  const bufferMax = run.size(500_000, 10_000);
  const db = await run.database('oom');
  const server = await run.redisServer({ appendfsync: null });
  const prefix = '{chaos}';
  const queue = run.tickQueue(run.redis(server.url), prefix);
  const symbols = simSymbols(100);
  const ingest = run.service(ENTRIES.ingestCrypto, {
    REDIS_URL: server.url, QUEUE_PREFIX: prefix, CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: symbols.join(','), SIM_SEED: String(SEED),
    INGEST_FLUSH_MS: '200', INGEST_BUFFER_MAX_TICKS: String(bufferMax),
  });
  const port = (await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 60_000)).healthPort as number;
  await waitFor(async () => ((await queueCounts(queue)).waiting ?? 0) > 5, 'ticks queued', 30_000, 200);

  const used = Number((await server.info('memory')).used_memory);
  await server.config('maxmemory', String(used + 128 * 1024));
  const limitedAt = Date.now();
  run.step(`maxmemory set to ${Math.round((used + 128 * 1024) / 1024)} KB (used ${Math.round(used / 1024)} KB)`);
  const watch = new ReadinessWatch(port, 250);
  run.defer(() => watch.stop());
  const oomLine = await ingest.waitForLog(msgIncludes('cannot queue ticks'), 90_000);
  const oomAt = Date.now();
  const notReadyAt = await waitFor(() => watch.firstAt((s) => s === 503, oomAt - 1000), 'ingest not ready', 15_000, 100).catch(() => undefined);

  // A writer started while Redis is full (for up to 10 s, then stopped): can the queue drain, which
  // would free memory by itself? And does it stop cleanly while Redis refuses its scripts?
  const storedBefore = await countTicks(db.sql, 'sim');
  const writer = run.service(ENTRIES.writer, writerEnv(db.url, server.url, prefix));
  const writerSpawned = Date.now();
  const writerStarted = await writer.waitForLog((l) => l.msg === 'writer started', 30_000).then((l) => l, () => undefined);
  await sleep(Math.max(3000, Math.min(10_000, oomMs - (Date.now() - oomAt) - 2000)));
  const writerReadiness = writerStarted ? await readiness(writerStarted.healthPort as number) : 'not started';
  const writerExit = await writer.stop(15_000);
  const writerRanMs = Date.now() - writerSpawned;
  const storedDuringOom = (await countTicks(db.sql, 'sim')) - storedBefore;
  const oomLines = writer.lines.filter((l) => /OOM/.test(String(l.err ?? '')));
  const writerErrors = oomLines.length;
  // Repeats of one error are summarised (suppressedSinceLast), so the lines undercount the failures.
  const writerFailures = oomLines.reduce((n, l) => n + 1 + Number(l.suppressedSinceLast ?? 0), 0);
  if (oomLines[0]) {
    const perSecond = Math.round(writerErrors / (writerRanMs / 1000));
    run.note(`writer under OOM: ${writerErrors} log lines (${writerFailures} failed calls) in ${seconds(writerRanMs)} (~${perSecond} lines/s) like {msg: "${String(oomLines[0].msg)}", err: "${String(oomLines[0].err).slice(0, 120)}"}`);
  }
  await sleep(Math.max(0, oomMs - (Date.now() - oomAt)));
  const buffered = metricValue(await scrape(port), 'tickvault_ingest_buffered_ticks');

  await server.config('maxmemory', '0');
  const freedAt = Date.now();
  run.step('maxmemory lifted');
  await ingest.waitForLog((l) => l.msg === 'Redis accepting jobs again; buffered ticks queued', 60_000);
  const readyAt = await waitFor(() => watch.firstAt((s) => s === 200, freedAt), 'ingest ready again', 30_000, 100).catch(() => undefined);
  await run.writer(writerEnv(db.url, server.url, prefix));
  await sleep(3000);
  const droppedMetric = metricValue(await scrape(port), 'tickvault_ingest_dropped_ticks_total');
  const stoppedAt = Date.now();
  await ingest.stop();
  await waitDrained(queue, 120_000);

  const dropLines = ingest.lines.filter((l) => String(l.msg).startsWith('ingest buffer full while Redis is unreachable: dropped'));
  const droppedLogged = dropLines.reduce((n, l) => Math.max(n, Number(l.droppedTotal ?? 0)), 0);
  const [events] = await db.sql<{ outages: number; dropped: number }[]>`
    select count(*)::int as outages, coalesce(sum((details->>'droppedTicks')::int), 0)::int as dropped
    from system_events where service = 'ingest-crypto' and kind in ('redis_outage', 'ingest_dropped')`;
  const leaseFailures = ingest.lines.filter((l) => l.msg === 'symbol lease round failed; keeping current symbols').length;
  const starts = (await simStarts(db.sql, symbols))!;
  const to = new Date(stoppedAt - 1000);
  const ledger = await simLedger(SEED, symbols, starts, to);
  const result = await checkLedger(db.sql, ledger, { sources: ['sim'], within: { from: earliest(starts), to } });

  run.figure('limit → first OOM error surfaced', seconds(oomAt - limitedAt));
  run.figure('OOM error', String(oomLine.err ?? '').slice(0, 60));
  run.figure('OOM → ingest /readyz 503', notReadyAt === undefined ? 'never' : seconds(Math.max(0, notReadyAt - oomAt)));
  run.figure('OOM held for', seconds(freedAt - oomAt));
  run.figure('ticks buffered in the ingest outbox at the end of OOM', buffered);
  run.figure('writer /readyz while Redis refuses its scripts', String(writerReadiness));
  run.figure('writer during OOM: started / ticks stored / OOM error lines (failed calls) / SIGTERM exit code', `${writerStarted ? 'yes' : 'no'} / ${storedDuringOom} / ${writerErrors} (${writerFailures}) / ${writerExit.code ?? writerExit.signal}`);
  run.figure('memory freed → ingest ready', readyAt === undefined ? 'never' : seconds(readyAt - freedAt));
  run.figure('ticks dropped (log / metric / events)', `${droppedLogged} / ${droppedMetric} / ${events!.dropped}`);
  run.figure('lease rounds failed during OOM', leaseFailures);
  run.check(/OOM/.test(String(oomLine.err ?? '')), `the ingest error does not name OOM: ${String(oomLine.err)}`);
  run.check(notReadyAt !== undefined, 'the ingest service stayed ready while it could not queue');
  run.check(readyAt !== undefined, 'the ingest service did not become ready after memory was freed');
  run.check(buffered > 0, 'nothing was buffered during the OOM');
  run.check(events!.outages >= 1, 'no redis_outage/ingest_dropped event was recorded');
  run.check(droppedLogged === events!.dropped && droppedMetric === droppedLogged, `dropped ticks in the log (${droppedLogged}), the metric (${droppedMetric}) and events (${events!.dropped}) differ`);
  // Dropped ticks may come back through a history replay (a lease taken over), so fewer may be missing.
  run.check(result.missing <= droppedLogged, `${result.missing} produced ticks not stored but ${droppedLogged} counted as dropped: ${result.missing - droppedLogged} lost silently`);
  run.figure('produced ticks missing (≤ dropped)', result.missing);
  reportLedger(run, result, '', { lossIsMeasured: true });
}

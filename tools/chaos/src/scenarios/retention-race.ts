import { verifyCandles } from '@tickvault/db';
import type { Tick, TickBatchJob } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks, toJobs } from '@tickvault/testing';
import { DAY_MS, HOUR_MS, Producer, checkLedger, queueCounts, waitDrained, waitFor, writerEnv, type LedgerJob, type Run } from '../lib.js';

const SOURCE = 'chaos-ret';
const OLD = 'chaos-old';

/**
 * 7. Retention racing with writes and late ticks. Two writers with TICK_RETENTION_DAYS=1 and a small
 * candle retention (1m=30, 5m=20) start on a database seeded with expired ticks (whole expired days), so their trim runs
 * while they write. The producer sends, in shuffled order and each job twice: recent ticks out of
 * order over 3 h (late ticks racing candle trims), and ticks straddling the 24 h acceptance horizon,
 * some of which cross it while queued. Checked: every produced tick stored or recorded as
 * older_than_retention (none dropped silently), none stored twice or invented, expired ticks gone,
 * ticks inside the trim margin kept, and candles equal to the aggregation of the stored ticks except
 * for a known race (reported, not failed): a late tick's batch that read the candle cutoff before a
 * concurrent batch raised it writes a partial candle below the cutoff.
 */
export async function retentionRace(run: Run): Promise<void> {
  const seeded = run.size(100_000, 1_000_000);
  const recentCount = run.size(30_000, 150_000);
  const db = await run.database('ret');
  const prefix = run.prefix();
  const queue = run.tickQueue(run.redis(run.settings.redisUrl), prefix);

  // Expired ticks: 55 minutes of them three days back, so their whole UTC day is past the trim horizon
  // (trades are dropped by whole days: kept at least their retention, at most a day longer), and a
  // band inside the 1 h trim margin. Written straight into tick_rows: the ticks view inserts row by row.
  await db.sql`insert into series (source, symbol, asset_class) values (${OLD}, 'BTC/USDT', 'crypto')`;
  await db.sql`select tv_ensure_tick_partitions((now() - interval '3 days')::date, now()::date)`;
  await db.sql`
    insert into tick_rows (series_id, ts, trade_id, price, size)
    select (select id from series where source = ${OLD}), date_trunc('day', now() - interval '3 days') + interval '1 hour'
      + g * (interval '55 minutes' / ${seeded}::int), g::text, 100, 1
    from generate_series(1, ${seeded}::int) g`;
  const band = 1000;
  await db.sql`
    insert into tick_rows (series_id, ts, trade_id, price, size)
    select (select id from series where source = ${OLD}), now() - interval '24 hours 30 minutes' + g * interval '1 s', 'band' || g, 100, 1
    from generate_series(1, ${band}::int) g`;

  const t0 = Date.now();
  const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];
  const recent = syntheticTicks({ count: recentCount, symbols, startMs: t0 - 3 * HOUR_MS, stepMs: Math.floor((3 * HOUR_MS - 60_000) / recentCount), source: SOURCE });
  // Straddling the horizon: [t0 − 24 h − 20 s, t0 − 24 h + 40 s), trade ids of their own.
  const horizon = syntheticTicks({ count: 3000, symbols, startMs: t0 - DAY_MS - 20_000, stepMs: 20, source: SOURCE }).map((t) => ({ ...t, tradeId: `h${t.tradeId}` }));
  const ledger: Tick[] = [...recent, ...horizon];
  const once = [...toJobs(recent, 100, 'chaos'), ...toJobs(horizon, 100, 'chaos')];
  const jobs: LedgerJob[] = shuffle([...once, ...once]).map((data: TickBatchJob, i) => ({ id: `ret-${i}`, data }));

  const env = writerEnv(db.url, run.settings.redisUrl, prefix, {
    TICK_RETENTION_DAYS: '1', CANDLE_RETENTION: '2000,1m=30,5m=20', WRITER_CONCURRENCY: '8', WRITER_BATCH_WAIT_MS: '5',
  });
  const producer = new Producer(queue, jobs, { jobsPerSecond: jobs.length / run.size(15, 60), perAdd: 4 });
  run.defer(() => producer.stop());
  await Promise.all([run.writer(env), run.writer(env)]);
  await producer.done;
  await waitDrained(queue, 180_000);
  const expiredLeft = await waitFor(async () => {
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from ticks where ts < date_trunc('day', now() - interval '25 hours')`;
    return row!.n === 0 ? 'none' : undefined;
  }, 'expired ticks trimmed', 60_000, 500).then(() => 0, async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from ticks where ts < date_trunc('day', now() - interval '25 hours')`)[0]!.n);
  const [bandLeft] = await db.sql<{ n: number }[]>`select count(*)::int as n from ticks where source = ${OLD} and trade_id like 'band%'`;
  const [trims] = await db.sql<{ runs: number; deleted: number; partitions: number }[]>`
    select count(*)::int as runs, coalesce(sum((details->>'ticksDeleted')::int), 0)::int as deleted,
      coalesce(sum(jsonb_array_length(details->'partitionsDropped')), 0)::int as partitions
    from system_events where kind = 'retention'`;

  // Every produced tick: stored, or recorded as older than retention (a copy may be both: the
  // first delivery stored it, the second arrived after it crossed the horizon).
  const result = await checkLedger(db.sql, ledger, { sources: [SOURCE], verify: false, listMissing: true });
  const rejected = await db.sql<{ trade_id: string; ts: string; late: boolean; reason: string }[]>`
    select sample::json->>'tradeId' as trade_id, sample::json->>'ts' as ts, reason,
      ((sample::json->>'ts')::timestamptz < rejected_at - interval '1 day') as late
    from rejected_ticks where source = ${SOURCE}`;
  const rejectedIds = new Set(rejected.filter((r) => r.reason === 'older_than_retention').map((r) => r.trade_id));
  const unaccounted = result.missingIds.filter((id) => !rejectedIds.has(id));
  const recentIds = new Set(recent.map((t) => t.tradeId));
  const recentRejected = rejected.filter((r) => recentIds.has(r.trade_id)).length;
  const otherReasons = rejected.filter((r) => r.reason !== 'older_than_retention');
  const notLate = rejected.filter((r) => !r.late);
  const horizonStored = horizon.length - result.missingIds.filter((id) => id.startsWith('h')).length;

  // Candles of the produced source against the stored ticks; mismatches split into the known race and the rest.
  const verify = await verifyCandles(db.sql, { from: new Date(t0 - DAY_MS - 2 * HOUR_MS), to: new Date(t0 + HOUR_MS), source: SOURCE });
  const cutoffs = new Map(
    (await db.sql<{ k: string; cutoff: Date }[]>`select symbol || ' ' || timeframe as k, cutoff from candle_cutoffs where source = ${SOURCE}`).map((r) => [r.k, r.cutoff.getTime()]),
  );
  const belowCutoff = verify.mismatches.filter((m) => m.problem === 'unexpected' && Date.parse(m.openTime) < (cutoffs.get(`${m.symbol} ${m.timeframe}`) ?? -Infinity));
  const otherMismatches = verify.mismatches.filter((m) => !belowCutoff.includes(m));
  const counts = await queueCounts(queue);

  run.figure('expired ticks seeded / trimmed while writing', `${seeded} / ${trims!.deleted} (planner's estimate) in ${trims!.partitions} daily partitions dropped by ${trims!.runs} trim runs`);
  run.figure('ticks inside the trim margin kept', `${bandLeft!.n} / ${band}`);
  run.figure('produced (each job twice) / stored / rejected older_than_retention', `${ledger.length} / ${result.stored} / ${rejectedIds.size}`);
  run.figure('horizon ticks stored / rejected', `${horizonStored} / ${horizon.length - horizonStored}`);
  run.figure('candles verified / partial candles below the cutoff (known race) / other mismatches', `${verify.checked} / ${belowCutoff.length} / ${otherMismatches.length}`);
  run.check(expiredLeft === 0, `${expiredLeft} expired ticks not trimmed`);
  run.check(trims!.partitions > 0, 'no retention event names a dropped partition');
  run.check(bandLeft!.n === band, `${band - bandLeft!.n} ticks inside the trim margin were trimmed`);
  run.check(unaccounted.length === 0, `${unaccounted.length} produced ticks neither stored nor rejected (e.g. ${unaccounted.slice(0, 3).join(', ')})`);
  run.check(recentRejected === 0, `${recentRejected} recent ticks rejected`);
  run.check(otherReasons.length === 0, `${otherReasons.length} rejections with another reason (${[...new Set(otherReasons.map((r) => r.reason))].join(', ')})`);
  run.check(notLate.length === 0, `${notLate.length} ticks rejected as older than retention that were not`);
  run.check(result.extra === 0, `${result.extra} stored ticks never produced`);
  run.check(result.duplicates === 0, `${result.duplicates} duplicate tick rows`);
  run.check(horizonStored > 0 && horizonStored < horizon.length, `horizon ticks: ${horizonStored} of ${horizon.length} stored, the race did not straddle the horizon`);
  run.check((counts.failed ?? 0) === 0, `${counts.failed} jobs failed`);
  run.check(verify.checked > 0, 'no candle verified');
  run.check(otherMismatches.length === 0, `${otherMismatches.length} candle mismatches besides the known race, e.g. ${JSON.stringify(otherMismatches.slice(0, 2))}`);
  if (belowCutoff.length > 0) {
    const m = belowCutoff[0]!;
    run.note(`known race seen: ${belowCutoff.length} partial candle(s) below the cutoff, e.g. ${m.symbol} ${m.timeframe} ${m.openTime} with ${String(m.stored?.trade_count)} trade(s)`);
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

import { JOB_NAMES, REJECT_REASONS, type RejectReason, type Tick } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import { syntheticTicks } from '@tickvault/testing';
import { HOUR_MS, ReadinessWatch, checkLedger, queueCounts, readiness, reportLedger, waitDrained, waitFor, writerEnv, type Run } from '../lib.js';

const SOURCE = 'chaos-fuzz';

interface Hostile {
  value: unknown;
  /** The reason the writer must give, when the mutation leaves no doubt. */
  reason?: RejectReason;
}

/** Nested `depth` levels deep without recursion (JSON.stringify and JSON.parse of it still recurse). */
function deep(depth: number, leaf: unknown, asArray: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
  return value;
}

/** An object with an own property literally named `key` (as JSON.parse makes it), e.g. `__proto__`. */
function withOwnKey(base: object, key: string, value: unknown): object {
  return JSON.parse(JSON.stringify(base).replace(/^\{/, `{${JSON.stringify(key)}:${JSON.stringify(value)},`)) as object;
}

/** One field of a valid tick replaced by something hostile (or the whole tick replaced). */
function hostileTicks(t: Tick, now: number): Hostile[] {
  const swap = (field: keyof Tick, value: unknown, reason?: RejectReason): Hostile => ({ value: { ...t, [field]: value }, reason });
  const without = (field: keyof Tick): Hostile => {
    const copy: Record<string, unknown> = { ...t };
    delete copy[field];
    return { value: copy, reason: 'malformed' };
  };
  return [
    ...['1e400', `${'9'.repeat(21)}.5`, 'NaN', 'Infinity', '-5', '0', '', ' 1', '1,5', '0x10', '1e5', '١٢', `1.${'0'.repeat(21)}`].map((p) => swap('price', p, 'invalid_price')),
    ...[12.5, null, {}, [], true, Number.MAX_VALUE].map((p) => swap('price', p, 'invalid_price')),
    ...['-1', 'NaN', 1, '1e3', '9'.repeat(25), null].map((s) => swap('size', s, 'invalid_size')),
    ...['not a date', '2026-02-30T00:00:00Z', 1_700_000_000_000, '2024-01-01T00:00:00+01:00', '2024-01-01T00:00:00.123456789Z', null].map((ts) => swap('ts', ts, 'invalid_timestamp')),
    swap('ts', '1970-01-01T00:00:00Z', 'older_than_retention'),
    swap('ts', new Date(now + 86_400_000).toISOString(), 'future_timestamp'),
    ...['BAD SOURCE', '', 'a\u0000b', 'x'.repeat(100_000), 123, null, '__proto__x!'].map((s) => swap('source', s, 'invalid_source')),
    ...['btc/usdt', 'BTC/USDT\u0000', '../../etc/passwd', '<script>alert(1)</script>', "'; drop table ticks; --", 7].map((s) => swap('symbol', s, 'invalid_symbol')),
    ...['forex', null, 1, '__proto__'].map((a) => swap('assetClass', a, 'malformed')),
    ...['', 'a b', 'x'.repeat(65), 'id\u0000', 5, 'é', {}].map((id) => swap('tradeId', id, 'invalid_trade_id')),
    ...[null, 42, 'tick', true, [], [1, 2], {}].map((v) => ({ value: v, reason: 'malformed' as const })),
    { value: { ...t, extra: 1 }, reason: 'malformed' },
    { value: withOwnKey(t, '__proto__', { polluted: true }), reason: 'malformed' },
    { value: withOwnKey(t, 'constructor', { prototype: { polluted: true } }), reason: 'malformed' },
    { value: withOwnKey(t, 'prototype', 1), reason: 'malformed' },
    without('tradeId'),
    without('ts'),
    { value: deep(3000, t, false), reason: 'malformed' },
    swap('price', deep(3000, '1', true), 'invalid_price'),
  ];
}

/** Payloads whose envelope can never be valid: the job must fail at once as unprocessable, with an event. */
function hostileEnvelopes(valid: Tick): unknown[] {
  const ok = { v: 1, producer: 'chaos-fuzz', ticks: [valid], rejected: [] };
  return [
    null, 42, 'job', [], {}, true,
    { ...ok, v: 2 }, { ...ok, v: '1' }, { ...ok, v: null },
    { ...ok, producer: '' }, { ...ok, producer: 'p'.repeat(65) }, { ...ok, producer: 5 },
    { ...ok, ticks: 'ticks' }, { ...ok, ticks: {} }, { ...ok, ticks: null }, { ...ok, ticks: Array.from({ length: 5001 }, () => null) },
    { ...ok, rejected: [{ bad: true }] }, { ...ok, rejected: 'x' },
    { ...ok, rejected: [{ source: 's', symbol: null, reason: 'evil', detail: '', sample: '', observedAt: '' }] },
    { ...ok, env: 'prod' }, { ...ok, env: 'live' }, { ...ok, bars: 'bars' },
    // `v` only on an own "__proto__" key: a parser that merged it into the object would accept this.
    withOwnKey({ producer: 'p', ticks: [valid], rejected: [] }, '__proto__', { v: 1 }),
  ];
}

interface Planned {
  id: string;
  data: unknown;
  envelopeBad: boolean;
  /** Writer rejections expected: position → reason (undefined: any reason). */
  bad: Map<number, RejectReason | undefined>;
  ingestRejections: number;
}

/**
 * 9. Thousands of malformed and hostile ticks and jobs pushed straight into the queue, mixed with
 * valid ticks. The writer must stay up and ready, record every bad tick in rejected_ticks (with the
 * expected reason where there is no doubt), fail every job with an impossible envelope at once with a
 * job_unprocessable event, and store every valid tick once.
 */
export async function fuzz(run: Run): Promise<void> {
  const jobCount = run.size(600, 3000);
  const db = await run.database('fuzz');
  const prefix = run.prefix();
  const connection = run.redis(run.settings.redisUrl);
  const queue = run.tickQueue(connection, prefix);
  const writer = await run.writer(writerEnv(db.url, run.settings.redisUrl, prefix));
  const watch = new ReadinessWatch(writer.port, 100, 5000);
  run.defer(() => watch.stop());

  const now = Date.now();
  const pool = syntheticTicks({ count: jobCount * 25, symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'], startMs: now - 5 * HOUR_MS, stepMs: 50, source: SOURCE });
  let next = 0;
  const take = () => pool[next++]!;
  const valid: Tick[] = [];
  const planned: Planned[] = [];
  let tickMutations = 0;
  let envelopeIndex = 0;
  let hostileIndex = 0;
  for (let j = 0; j < jobCount; j++) {
    const id = `fuzz-${j}`;
    if (j % 4 === 3) {
      const envelopes = hostileEnvelopes(take());
      planned.push({ id, data: envelopes[envelopeIndex++ % envelopes.length], envelopeBad: true, bad: new Map(), ingestRejections: 0 });
      continue;
    }
    const ticks: unknown[] = [];
    const bad = new Map<number, RejectReason | undefined>();
    const size = 1 + (j % 20);
    for (let k = 0; k < size; k++) {
      const t = take();
      if ((j + k) % 2 === 0) {
        ticks.push(t);
        valid.push(t);
      } else {
        const options = hostileTicks({ ...t, tradeId: `x${t.tradeId}` }, now);
        // The 1 MB symbol only now and then: it is about surviving it, not about volume.
        const hostile = j % 97 === 1 && k === 1 ? { value: { ...t, symbol: 'X'.repeat(1_000_000) }, reason: 'invalid_symbol' as const } : options[hostileIndex++ % options.length]!;
        bad.set(k, hostile.reason);
        ticks.push(hostile.value);
        tickMutations++;
      }
    }
    const bars: unknown[] = j % 10 === 0 ? [{ garbage: true }, null, { source: SOURCE, symbol: 'BTC/USDT', openTime: 'never' }] : [];
    bars.forEach((_, i) => bad.set(ticks.length + i, undefined));
    const rejected = j % 10 === 5
      ? [{ source: 'ev\u0000il', symbol: null, reason: 'malformed', detail: 'd\u0000'.repeat(500), sample: '\u0000'.repeat(2000), observedAt: 'whenever' }]
      : [];
    planned.push({ id, data: { v: 1, producer: 'chaos-fuzz', ticks, bars, rejected }, envelopeBad: false, bad, ingestRejections: rejected.length });
  }

  for (let i = 0; i < planned.length; i += 20) {
    await queue.addBulk(planned.slice(i, i + 20).map((p) => ({ name: JOB_NAMES.tickBatch, data: p.data as never, opts: { jobId: p.id } })));
  }
  run.step(`${planned.length} jobs queued (${tickMutations} hostile ticks, ${valid.length} valid)`);
  await waitDrained(queue, run.size(120_000, 300_000));
  await waitFor(async () => ((await queueCounts(queue)).failed ?? 0) >= planned.filter((p) => p.envelopeBad).length, 'unprocessable jobs failed', 30_000, 200).catch(() => undefined);
  await watch.stop();

  // Rejections, by job id (job keys are `ticks:<id>@<timestamp>`).
  type Row = { job_key: string; origin: string; position: number; reason: string; detail: string };
  const rows: Row[] = await db.sql<Row[]>`
    select job_key, origin, position, reason, detail from rejected_ticks where job_key like 'ticks:fuzz-%'`;
  const byJob = new Map<string, Row[]>();
  for (const r of rows) {
    const id = r.job_key.slice('ticks:'.length, r.job_key.lastIndexOf('@'));
    byJob.set(id, [...(byJob.get(id) ?? []), r]);
  }
  let unrecorded = 0;
  let unexpected = 0;
  let wrongReason = 0;
  let noReason = 0;
  let ingestMissing = 0;
  const wrongExamples: string[] = [];
  for (const p of planned) {
    const got = byJob.get(p.id) ?? [];
    const writerRows = got.filter((r) => r.origin === 'writer');
    if (p.envelopeBad) {
      unexpected += got.length;
      continue;
    }
    for (const [position, reason] of p.bad) {
      const row = writerRows.find((r) => r.position === position);
      if (!row) {
        unrecorded++;
        continue;
      }
      if (!(REJECT_REASONS as readonly string[]).includes(row.reason) || !row.detail) noReason++;
      if (reason && row.reason !== reason) {
        wrongReason++;
        if (wrongExamples.length < 3) wrongExamples.push(`${p.id}#${position}: ${row.reason} (expected ${reason}): ${row.detail.slice(0, 80)}`);
      }
    }
    unexpected += writerRows.filter((r) => !p.bad.has(r.position)).length;
    if (got.filter((r) => r.origin === 'ingest').length !== p.ingestRejections) ingestMissing++;
  }

  const failed = await queue.getJobs(['failed'], 0, -1);
  const failedIds = new Set(failed.map((j) => j.id));
  const badEnvelopes = planned.filter((p) => p.envelopeBad);
  const notFailed = badEnvelopes.filter((p) => !failedIds.has(p.id));
  const wronglyFailed = planned.filter((p) => !p.envelopeBad && failedIds.has(p.id));
  const retried = failed.filter((j) => j.attemptsMade !== 1);
  const [events] = await db.sql<{ n: number }[]>`select count(*)::int as n from system_events where kind = 'job_unprocessable' and dedupe_key like 'unprocessable:ticks:fuzz-%'`;
  const notReady = watch.samples.filter((s) => s.status !== 200).length;
  const crashed = writer.proc.lines.filter((l) => l.msg === 'uncaught exception' || l.msg === 'unhandled rejection');
  const alive = (await readiness(writer.port)) === 200;

  run.figure('jobs (hostile envelopes) / hostile ticks / valid ticks', `${planned.length} (${badEnvelopes.length}) / ${tickMutations} / ${valid.length}`);
  run.figure('rejections recorded (writer / ingest)', `${rows.filter((r) => r.origin === 'writer').length} / ${rows.filter((r) => r.origin === 'ingest').length}`);
  run.figure('jobs failed as unprocessable / job_unprocessable events', `${failed.length} / ${events!.n}`);
  run.figure('readiness samples not 200 / slowest answer / writer alive at the end', `${notReady} of ${watch.samples.length} / ${watch.slowest} ms / ${alive ? 'yes' : 'no'}`);
  run.check(alive && writer.proc.lines.every((l) => l.msg !== 'stopped'), 'the writer is not up and ready at the end');
  run.check(crashed.length === 0, `the writer logged ${crashed.length} uncaught exceptions`);
  run.check(notReady === 0, `/readyz was not 200 in ${notReady} samples: ${watch.samples.filter((x) => x.status !== 200).map((x) => `${String(x.status)} at +${x.at - watch.samples[0]!.at} ms`).join(', ')}`);
  run.check(unrecorded === 0, `${unrecorded} hostile ticks not recorded in rejected_ticks`);
  run.check(unexpected === 0, `${unexpected} rejections recorded for positions that were valid (or for failed jobs)`);
  run.check(noReason === 0, `${noReason} rejections without a known reason or detail`);
  run.check(wrongReason === 0, `${wrongReason} rejections with another reason than expected: ${wrongExamples.join(' | ')}`);
  run.check(ingestMissing === 0, `${ingestMissing} jobs whose ingest-side rejections were not all recorded`);
  run.check(notFailed.length === 0, `${notFailed.length} jobs with an impossible envelope did not fail (e.g. ${notFailed.slice(0, 3).map((p) => JSON.stringify(p.data)?.slice(0, 60)).join(' | ')})`);
  run.check(wronglyFailed.length === 0, `${wronglyFailed.length} jobs with a valid envelope failed: ${wronglyFailed.slice(0, 2).map((p) => failed.find((j) => j.id === p.id)?.failedReason).join(' | ')}`);
  run.check(retried.length === 0, `${retried.length} unprocessable jobs were retried`);
  run.check(events!.n === badEnvelopes.length, `${events!.n} job_unprocessable events for ${badEnvelopes.length} unprocessable jobs`);
  reportLedger(run, await checkLedger(db.sql, valid, { sources: [SOURCE], candleVolume: true }), 'valid:');
}

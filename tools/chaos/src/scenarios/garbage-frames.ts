import { DEMO_FEED_PORTS, demoFeedEnv } from '@tickvault/config';
import type { Tick } from '@tickvault/schema';
// eslint-disable-next-line no-restricted-imports -- the chaos suite drives real processes with the end-to-end test helpers
import type { LogLine, ServiceProcess } from '@tickvault/testing';
import {
  ENTRIES, checkLedger, fmt, metricValue, msgIncludes, portFree, reportLedger, scrape, seconds, sleep, waitDrained, waitFor, writerEnv, type Run,
} from '../lib.js';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'];
// The smallest buffer the ingest service accepts: a flood of garbage meets the bound quickly.
const BUFFER_MAX_TICKS = 10_000;
// Growth of the ingest process above its quiet RSS that still counts as bounded: a few MB of buffer
// (the byte bound that goes with BUFFER_MAX_TICKS) plus the heap V8 grows before it collects the
// flood's short-lived garbage. Node 20 grew 85–110 MB for 50 MB at 8–20 MB/s; Node 26's V8 lets its young
// generation grow further first: 160–185 MB on the same commit, buffer 2.3 MB. Unbounded: 410 MB.
const RSS_GROWTH_LIMIT_MB = 240;
// A second 50 MB while Redis is still down must find the memory the first left: bounded, it added
// 0–15 MB on Node 20 and 0–33 MB on Node 26; a buffer that keeps what it is given added 230 MB.
const SECOND_BURST_LIMIT_MB = 64;

interface GarbageSent {
  connections: number;
  frames: number;
  bytes: number;
  ms: number;
}

/** Sends SIGUSR2 to fake-feeds (its garbage switch) and waits for its report. */
async function sendGarbage(feeds: ServiceProcess): Promise<GarbageSent> {
  const from = feeds.lines.length;
  feeds.kill('SIGUSR2');
  const line = await waitFor(() => feeds.lines.slice(from).find((l: LogLine) => l.garbage === 'sent'), 'the fake Binance reporting its garbage sent', 300_000, 50);
  return line as unknown as GarbageSent;
}

/** Every trade the fake Binance executed for `symbol` from trade id `fromId` up to (not including) `to`, from its REST history. */
async function binanceTrades(restUrl: string, symbol: string, fromId: number, to: number): Promise<Tick[]> {
  const ticks: Tick[] = [];
  for (let next = fromId; ;) {
    const response = await fetch(`${restUrl}/api/v3/historicalTrades?symbol=${symbol.replace('/', '')}&fromId=${next}&limit=1000`);
    if (response.status === 429 || response.status === 418) {
      await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
      continue;
    }
    const rows = (await response.json()) as { id: number; price: string; qty: string; time: number }[];
    for (const row of rows) {
      if (row.time >= to) return ticks;
      ticks.push({ source: 'binance', symbol, assetClass: 'crypto', ts: new Date(row.time).toISOString(), price: row.price, size: row.qty, tradeId: String(row.id) });
    }
    if (rows.length < 1000) return ticks;
    next = rows.at(-1)!.id + 1;
  }
}

/**
 * 13. A provider sends 50 MB of garbage frames on its live stream (fake Binance's garbage switch: text
 * and binary noise, truncated JSON, JSON that is no event, trades with a bad field, oversized frames),
 * between its valid trades: once while Redis is up, then twice while Redis is down (the ingest buffer
 * holds what it gets, within its bound). The ingest service's RSS must stay bounded (sampled every
 * 100 ms) and level off (the second 50 MB needs no more memory than the first), every
 * garbage frame must be accounted for (recorded as a rejection, or counted as dropped by the bound),
 * and every valid trade the provider executed around the garbage must be stored once.
 */
export async function garbageFrames(run: Run): Promise<void> {
  const busy = [];
  for (const port of Object.values(DEMO_FEED_PORTS)) if (!(await portFree(port))) busy.push(port);
  if (!run.check(busy.length === 0, `demo feed ports in use (${busy.join(', ')}): is \`npm run demo\` running?`)) return;
  const db = await run.database('garbage');
  const server = await run.redisServer({ appendfsync: 'everysec' });
  const prefix = '{chaos}';
  const queue = run.tickQueue(run.redis(server.url), prefix);
  const feeds = run.service(ENTRIES.fakeFeeds, {});
  await feeds.waitForLog((l) => 'fakeFeeds' in l, 60_000);
  const feedEnv = demoFeedEnv('127.0.0.1');
  const restUrl = feedEnv.BINANCE_REST_URL!;
  await run.writer(writerEnv(db.url, server.url, prefix));
  const ingest = run.service(ENTRIES.ingestCrypto, {
    REDIS_URL: server.url, QUEUE_PREFIX: prefix, CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: SYMBOLS.join(','),
    BINANCE_WS_URL: feedEnv.BINANCE_WS_URL!, BINANCE_REST_URL: restUrl, INGEST_FLUSH_MS: '200', INGEST_BUFFER_MAX_TICKS: String(BUFFER_MAX_TICKS),
  });
  const port = (await ingest.waitForLog((l) => l.msg === 'ingest-crypto started', 60_000)).healthPort as number;
  const memory = run.memory({ ingest: () => ingest.pid }, 100);
  const storedSymbols = async () => (await db.sql<{ n: number }[]>`select count(distinct symbol)::int as n from ticks where source = 'binance'`)[0]!.n;
  await waitFor(async () => (await storedSymbols()) === SYMBOLS.length, 'binance trades stored for every symbol', 90_000, 200);
  const quietFrom = Date.now();
  await sleep(3000);
  const quiet = memory.median('ingest', quietFrom, Date.now());
  const rejectedRows = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from rejected_ticks where origin = 'ingest' and source = 'binance'`)[0]!.n;
  const droppedRejections = async () => metricValue(await scrape(port), 'tickvault_ingest_dropped_rejections_total');

  // --- phase 1: Redis up ------------------------------------------------------------------------------
  run.step(`ingest RSS quiet: ${fmt(quiet)} MB; sending garbage with Redis up`);
  const rows0 = await rejectedRows();
  const dropped0 = await droppedRejections();
  const upFrom = Date.now();
  const up = await sendGarbage(feeds);
  // Accounted for: every frame the ingest got is a rejection row, or a rejection the bound dropped.
  const accountedUp = await waitFor(async () => {
    const n = (await rejectedRows()) - rows0 + (await droppedRejections()) - dropped0;
    return n >= up.frames && n;
  }, 'every garbage frame recorded or counted', 180_000, 250).catch(async () => (await rejectedRows()) - rows0 + (await droppedRejections()) - dropped0);
  const upTo = Date.now();
  const rows1 = await rejectedRows();
  const dropped1 = await droppedRejections();

  // --- phase 2: Redis down -------------------------------------------------------------------------
  run.step('Redis killed; sending garbage while the ingest service buffers');
  const linesBefore = ingest.lines.length;
  await server.kill9();
  const downFrom = Date.now();
  await waitFor(() => ingest.lines.slice(linesBefore).some(msgIncludes('cannot queue ticks')), 'the ingest service noticing Redis is down', 30_000, 50);
  // Twice: with a bound, the second 50 MB finds the memory the first left and needs no more.
  const down1 = await sendGarbage(feeds);
  await sleep(3000);
  const secondFrom = Date.now();
  const down2 = await sendGarbage(feeds);
  const down = { connections: Math.min(down1.connections, down2.connections), frames: down1.frames + down2.frames, bytes: down1.bytes + down2.bytes, ms: down1.ms + down2.ms };
  // Held for a few of the outbox's retries (every ≤ 5 s), each of which serializes what it holds.
  await sleep(8000);
  const heldMetrics = await scrape(port);
  const bufferedTicks = metricValue(heldMetrics, 'tickvault_ingest_buffered_ticks');
  const bufferedBytes = metricValue(heldMetrics, 'tickvault_ingest_buffered_bytes');
  const downTo = Date.now();
  const recoverFrom = ingest.lines.length;
  await server.start();
  await waitFor(() => ingest.lines.slice(recoverFrom).some((l) => l.msg === 'Redis accepting jobs again; buffered ticks queued'), 'the ingest service sending again', 60_000, 100);
  // Valid trades after the garbage, then the ingest service stops (its buffer reaches Redis first).
  await sleep(3000);
  const endMetrics = await scrape(port);
  const stoppedAt = Date.now();
  const exit = await ingest.stop();
  await waitDrained(queue, 180_000);
  const rows2 = await rejectedRows();
  const droppedRejectionsTotal = metricValue(endMetrics, 'tickvault_ingest_dropped_rejections_total');
  const droppedTicks = metricValue(endMetrics, 'tickvault_ingest_dropped_ticks_total');
  const reconnects = metricValue(endMetrics, 'tickvault_source_reconnects_total', { source: 'binance' });

  // Every trade from the first stored one per symbol until a second before the stop.
  const to = stoppedAt - 1000;
  const ledger: Tick[] = [];
  for (const symbol of SYMBOLS) {
    const [first] = await db.sql<{ id: string }[]>`select min(trade_id::bigint)::text as id from ticks where source = 'binance' and symbol = ${symbol}`;
    ledger.push(...(await binanceTrades(restUrl, symbol, Number(first!.id), to)));
  }
  const firstTs = new Date(Math.min(...ledger.map((t) => Date.parse(t.ts))));
  const result = await checkLedger(db.sql, ledger, { sources: ['binance'], within: { from: firstTs, to: new Date(to) } });

  const peakUp = memory.peak('ingest', upFrom, upTo);
  const peakDown = memory.peak('ingest', downFrom, downTo);
  const peakDown1 = memory.peak('ingest', downFrom, secondFrom);
  const accountedDown = rows2 - rows1 + droppedRejectionsTotal - dropped1;
  run.figure('garbage with Redis up: sent (frames) → rate', `${fmt(up.bytes / 2 ** 20)} MB (${up.frames}) in ${seconds(up.ms)} → ${fmt(up.bytes / 2 ** 20 / (up.ms / 1000))} MB/s`);
  run.figure('garbage with Redis up: frames recorded as rejections / dropped by the bound', `${rows1 - rows0} / ${dropped1 - dropped0}`);
  run.figure('garbage with Redis down: sent (frames)', `${fmt(down.bytes / 2 ** 20)} MB (${down.frames}) in ${seconds(down.ms)}`);
  run.figure('garbage with Redis down: frames recorded / dropped by the bound', `${rows2 - rows1} / ${droppedRejectionsTotal - dropped1}`);
  run.figure('ingest buffer while Redis was down: ticks / bytes', `${bufferedTicks} / ${fmt(bufferedBytes / 2 ** 20)} MB`);
  run.figure('ingest RSS: quiet / peak with Redis up / peak with Redis down, first 50 MB / both', `${fmt(quiet)} / ${fmt(peakUp)} / ${fmt(peakDown1)} / ${fmt(peakDown)} MB`);
  run.figure('valid ticks dropped by the bound / stream reconnects', `${droppedTicks} / ${reconnects}`);
  run.figure('ingest exit code', String(exit.code ?? exit.signal));
  run.check(up.connections >= 1 && down.connections >= 1, `the garbage went to ${up.connections} / ${down.connections} connections`);
  run.check(accountedUp === up.frames, `Redis up: ${accountedUp} of ${up.frames} garbage frames recorded or counted as dropped`);
  run.check(accountedDown === down.frames, `Redis down: ${accountedDown} of ${down.frames} garbage frames recorded or counted as dropped`);
  run.check(peakUp - quiet <= RSS_GROWTH_LIMIT_MB, `ingest RSS grew by ${fmt(peakUp - quiet)} MB with Redis up (limit ${RSS_GROWTH_LIMIT_MB} MB)`);
  run.check(peakDown - peakDown1 <= SECOND_BURST_LIMIT_MB, `ingest RSS rose by ${fmt(peakDown - peakDown1)} MB more for a second 50 MB while Redis was down (limit ${SECOND_BURST_LIMIT_MB} MB): memory follows the garbage`);
  run.check(peakDown - quiet <= RSS_GROWTH_LIMIT_MB, `ingest RSS grew by ${fmt(peakDown - quiet)} MB with Redis down (limit ${RSS_GROWTH_LIMIT_MB} MB): the buffer does not bound what it holds`);
  run.check(droppedTicks === 0, `${droppedTicks} valid ticks dropped: garbage pushed valid data out of the buffer`);
  run.check(exit.code === 0, `the ingest service exited with ${exit.code ?? exit.signal}`);
  run.check(ingest.lines.filter((l) => l.msg === 'stopped').length <= 1, 'the ingest service restarted');
  reportLedger(run, result, 'valid:');
}

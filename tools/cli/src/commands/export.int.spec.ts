import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrate, writeTickBatch, type Sql } from '@tickvault/db';
import { TIMEFRAMES, type Timeframe } from '@tickvault/schema';
import { createTestDatabase, type TestDatabase } from '@tickvault/testing';
import { runCommandLine } from '../cli.js';
import { runCli } from '../testing/run-cli.js';
import { parseExportArgs, streamExport } from './export.js';
import { commands } from './index.js';

const keep = Object.fromEntries(TIMEFRAMES.map((tf) => [tf, 100_000])) as Record<Timeframe, number>;
const SOURCE = 'sim';
const SYMBOL = 'PEPE/USDT';
const DAY = '2026-03-02';
// Many rows for the streaming test, in a symbol of their own.
const BULK_SYMBOL = 'BULK/USDT';
const BULK_ROWS = 4000;

interface Trade {
  ts: string;
  price: string;
  size: string;
  tradeId: string | null;
}

// Exactness cases: trailing zeros, many decimals, large values; ids that order as numbers; the window edges.
const TRADES: Trade[] = [
  { ts: `${DAY}T09:59:59.999999Z`, price: '1', size: '1', tradeId: 'before' },
  { ts: `${DAY}T10:00:00.000000Z`, price: '0.00012300', size: '1500000.000', tradeId: '99' },
  { ts: `${DAY}T10:00:00.000000Z`, price: '0.00012400', size: '0.1', tradeId: '100' },
  { ts: `${DAY}T10:00:30.123456Z`, price: '0.000123', size: '12345678901234567890.123456789', tradeId: '101' },
  { ts: `${DAY}T10:01:05.000001Z`, price: '0.00012000', size: '2.50', tradeId: '102' },
  { ts: `${DAY}T10:02:00.000000Z`, price: '9', size: '9', tradeId: 'at-to' },
];
const IN_WINDOW = TRADES.slice(1, 5);
const WINDOW = ['--from', `${DAY}T10:00:00Z`, '--to', `${DAY}T10:02:00Z`];

function csvOf(rows: Trade[]): string {
  return `ts,price,size,trade_id\n${rows.map((t) => `${t.ts},${t.price},${t.size},${t.tradeId ?? ''}`).join('\n')}\n`;
}

async function inProcess(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = { write: (s: string) => ((stderr += s), true) };
  const code = await runCommandLine(args, commands, { stdout: sink, stderr: sink });
  return { code, stderr };
}

describe('tickvault export', () => {
  let db: TestDatabase;
  let sql: Sql;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase(migrate);
    sql = createDb(db.url, { max: 2 });
    dir = await mkdtemp(join(tmpdir(), 'tickvault-export-'));
    const ticks = [
      ...TRADES.map((t) => ({ source: SOURCE, symbol: SYMBOL, assetClass: 'crypto' as const, ...t })),
      ...Array.from({ length: BULK_ROWS }, (_, i) => ({
        source: SOURCE, symbol: BULK_SYMBOL, assetClass: 'crypto' as const,
        ts: new Date(Date.parse(`${DAY}T00:00:00Z`) + i * 1000).toISOString(), price: `${100 + (i % 50)}.${String(i).padStart(8, '0')}`, size: '0.010', tradeId: String(i),
      })),
    ];
    await writeTickBatch(sql, { ticks, rejections: [] }, { candleKeep: keep, dataEnvironment: { environment: 'test', by: 'test' } });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 2 });
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes ticks as CSV with the stored decimals unchanged, in trade order, from inclusive and to exclusive', async () => {
    const result = await runCli(['export', 'ticks', '--source', SOURCE, '--symbol', SYMBOL, ...WINDOW], { DATABASE_URL: db.url });
    expect(result.stderr).toContain(`exported 4 ticks of ${SOURCE}:${SYMBOL}`);
    expect(result.code).toBe(0);
    // '99' before '100' (numeric ids order as numbers); '0.00012300' keeps its zeros.
    expect(result.stdout).toBe(csvOf(IN_WINDOW));
  });

  it('writes candles and Parquet to --out files that read back as the stored rows', async () => {
    const candlesFile = join(dir, 'candles.csv');
    const candles = await runCli(
      ['export', 'candles', '--source', SOURCE, '--symbol', SYMBOL, '--timeframe', '1m', ...WINDOW, '--out', candlesFile],
      { DATABASE_URL: db.url },
    );
    expect(candles.code).toBe(0);
    expect(candles.stdout).toBe('');
    const expectedCandles = await sql<{ line: string }[]>`
      select concat_ws(',', to_char(open_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), open::text, high::text, low::text, close::text, volume::text, trade_count) as line
      from candles where source = ${SOURCE} and symbol = ${SYMBOL} and timeframe = '1m'
        and open_time >= ${`${DAY}T10:00:00Z`} and open_time < ${`${DAY}T10:02:00Z`} order by open_time`;
    expect(expectedCandles).toHaveLength(2);
    // The open is the first trade in trade order (id 99), with its zeros.
    expect(expectedCandles[0]!.line).toMatch(new RegExp(`^${DAY}T10:00:00Z,0\\.00012300,0\\.00012400,`));
    expect(await readFile(candlesFile, 'utf8')).toBe(`open_time,open,high,low,close,volume,trade_count\n${expectedCandles.map((r) => `${r.line}\n`).join('')}`);

    const ticksFile = join(dir, 'ticks.parquet');
    const parquet = await runCli(
      ['export', 'ticks', '--source', SOURCE, '--symbol', SYMBOL, ...WINDOW, '--format', 'parquet', '--out', ticksFile],
      { DATABASE_URL: db.url },
    );
    expect(parquet.code).toBe(0);
    await expect(stat(`${ticksFile}.partial`)).rejects.toMatchObject({ code: 'ENOENT' });
    const bytes = await readFile(ticksFile);
    const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    expect(rows).toEqual(IN_WINDOW.map((t) => ({ ts: t.ts, price: t.price, size: t.size, trade_id: t.tradeId })));
  });

  it('reads the database through a cursor, a batch at a time, held back while the output is not taking more', async () => {
    const options = parseExportArgs(['ticks', '--source', SOURCE, '--symbol', BULK_SYMBOL, '--from', `${DAY}T00:00:00Z`, '--to', `${DAY}T23:59:59Z`], new Date());
    let fetched = 0;
    const chunks: string[] = [];
    const held: (() => void)[] = [];
    // Takes one chunk and then holds the next until released: a pipe whose reader is slow.
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        held.push(callback);
      },
    });
    const exportSql = createDb(db.url, { max: 1, applicationName: 'export-under-test' });
    const done = streamExport(exportSql, options, slow, { batchSize: 100, onFetched: (n) => (fetched = n) });
    await expect.poll(() => held.length).toBe(1);
    // The query is still open on the server (a cursor mid-way), not finished with every row sent.
    const [session] = await sql<{ state: string; query: string }[]>`
      select state, query from pg_stat_activity where application_name = 'export-under-test'`;
    expect(session?.query).toContain('from ticks');
    expect(session?.state).not.toBe('idle');
    // Nothing moves on while the output is full: one or two batches read of 4000 rows.
    const settled = await Promise.race([done.then(() => 'done'), new Promise((r) => setImmediate(() => setImmediate(() => r('waiting'))))]);
    expect(settled).toBe('waiting');
    expect(fetched).toBeLessThanOrEqual(200);
    const releaser = setInterval(() => held.splice(0).forEach((cb) => cb()), 1);
    try {
      expect(await done).toBe(BULK_ROWS);
    } finally {
      clearInterval(releaser);
      await exportSql.end({ timeout: 2 });
    }
    held.splice(0).forEach((cb) => cb());
    expect(chunks.length).toBeGreaterThanOrEqual(BULK_ROWS / 100);
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines).toHaveLength(BULK_ROWS + 1);
    expect(lines[1]).toBe(`${DAY}T00:00:00.000000Z,100.00000000,0.010,0`);
    expect(lines.at(-1)).toBe(`${DAY}T01:06:39.000000Z,149.00003999,0.010,3999`);
  });

  it('streams Parquet in row groups, each written before the next is read, that read back complete', async () => {
    const options = parseExportArgs(
      ['ticks', '--source', SOURCE, '--symbol', BULK_SYMBOL, '--from', `${DAY}T00:00:00Z`, '--to', `${DAY}T23:59:59Z`, '--format', 'parquet'],
      new Date(),
    );
    const chunks: Buffer[] = [];
    const fetchedAtWrite: number[] = [];
    let fetched = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(Buffer.from(chunk));
        fetchedAtWrite.push(fetched);
        callback();
      },
    });
    expect(await streamExport(sql, options, sink, { batchSize: 100, rowGroupRows: 1000, onFetched: (n) => (fetched = n) })).toBe(BULK_ROWS);
    // The first row group left before most rows were even read.
    expect(fetchedAtWrite[0]).toBeLessThanOrEqual(1000);
    const bytes = Buffer.concat(chunks);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    expect(parquetMetadata(file).row_groups).toHaveLength(BULK_ROWS / 1000);
    const rows = await parquetReadObjects({ file });
    expect(rows).toHaveLength(BULK_ROWS);
    expect(rows[0]).toEqual({ ts: `${DAY}T00:00:00.000000Z`, price: '100.00000000', size: '0.010', trade_id: '0' });
    expect(rows[3999]).toEqual({ ts: `${DAY}T01:06:39.000000Z`, price: '149.00003999', size: '0.010', trade_id: '3999' });
  });

  it('says so when the series was never stored or the output cannot be written (exit 1), and refuses a wrong command line (exit 2)', async () => {
    const unknown = await runCli(['export', 'ticks', '--source', SOURCE, '--symbol', 'NOPE/USDT', ...WINDOW], { DATABASE_URL: db.url });
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toContain('unknown series sim:NOPE/USDT: nothing was ever stored for it');

    // An output that cannot be written is one line naming it, not a stack trace.
    const badOut = join(dir, 'no-such-dir', 'ticks.csv');
    const unwritable = await runCli(['export', 'ticks', '--source', SOURCE, '--symbol', SYMBOL, ...WINDOW, '--out', badOut], { DATABASE_URL: db.url });
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toMatch(new RegExp(`^export of ${SOURCE}:${SYMBOL} failed writing ${badOut.replaceAll('/', '\\/')}: ENOENT`));
    expect(unwritable.stderr).not.toContain('    at ');

    const cases: [string[], string][] = [
      [['export'], 'say what to export: ticks or candles'],
      [['export', 'trades', '--source', 's', '--symbol', 'x', '--from', '2026-01-01'], '(got "trades")'],
      [['export', 'ticks', '--symbol', 'x', '--from', '2026-01-01'], '--source is required'],
      [['export', 'ticks', '--source', 's', '--symbol', 'x'], '--from is required'],
      [['export', 'ticks', '--source', 's', '--symbol', 'x', '--from', '2026-01-01T00:00:00'], '--from must be an ISO-8601 instant with a zone'],
      [['export', 'ticks', '--source', 's', '--symbol', 'x', '--from', '2026-01-02', '--to', '2026-01-01'], '--to must be later than --from'],
      [['export', 'candles', '--source', 's', '--symbol', 'x', '--from', '2026-01-01'], 'candles need --timeframe'],
      [['export', 'candles', '--source', 's', '--symbol', 'x', '--from', '2026-01-01', '--timeframe', '2m'], '--timeframe must be one of'],
      [['export', 'ticks', '--source', 's', '--symbol', 'x', '--from', '2026-01-01', '--format', 'xlsx'], '--format must be csv or parquet'],
      [['export', 'ticks', '--source', 's', '--symbol', 'x', '--from', '2026-01-01', '--limit', '3'], "unknown option '--limit'"],
    ];
    for (const [args, message] of cases) {
      const result = await inProcess(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(message);
    }
  });
});

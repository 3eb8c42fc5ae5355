import { pathToFileURL } from 'node:url';
import { repoPath } from '@tickvault/testing';

/**
 * Child process of the gap-fill scenario: the fake Binance REST/WS server with a long history, in a
 * process of its own so generating the tape (and its memory) stays out of the bench's numbers.
 * The bench may not import another tool, so the fake is loaded by path at run time, the same way the
 * bench starts the apps. Settings come from the environment; logs one JSON line when ready and its
 * request counters every second.
 */
interface FakeBinanceLike {
  restUrl: string;
  wsUrl: string;
  stats: { requests: Record<string, number>; weightUsed: number; rateLimited: number };
  close(): Promise<void>;
}
type Start = (options: {
  symbols: string[]; historyMs: number; tradesPerSecond: number; weightPerMinute: number; seed: number; host: string;
}) => Promise<FakeBinanceLike>;

const { startFakeBinance } = (await import(pathToFileURL(repoPath('tools/fake-feeds/src/binance.ts')).href)) as { startFakeBinance: Start };

const historyMs = Number(process.env.FAKE_HISTORY_MS ?? 7_200_000);
const started = performance.now();
// The fake's tape starts at the second of (its start - historyMs); its start is at or after this.
const historyFromMs = Date.now() - historyMs + 1000;
const fake = await startFakeBinance({
  symbols: (process.env.FAKE_SYMBOLS ?? 'BTCUSDT').split(','),
  historyMs,
  tradesPerSecond: Number(process.env.FAKE_TRADES_PER_SECOND ?? 1),
  weightPerMinute: Number(process.env.FAKE_WEIGHT_PER_MINUTE ?? 6000),
  seed: 7,
  host: '127.0.0.1',
});
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
print({ msg: 'fake binance ready', restUrl: fake.restUrl, wsUrl: fake.wsUrl, historyFromMs, generateMs: Math.round(performance.now() - started) });
setInterval(() => print({ msg: 'stats', requests: fake.stats.requests, weightUsed: fake.stats.weightUsed, rateLimited: fake.stats.rateLimited }), 1000);

const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

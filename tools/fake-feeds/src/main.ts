import { parseArgs } from 'node:util';
import { startFakeBinance } from './binance.js';

/**
 * Starts the fake Binance on a port, for demos and manual runs:
 *   node --import tsx tools/fake-feeds/src/main.ts --port 18443 [--seed 42] [--symbols BTCUSDT,ETHUSDT] [--rate 5]
 * then point the binance source at it:
 *   CRYPTO_SOURCES=binance BINANCE_WS_URL=ws://127.0.0.1:18443 BINANCE_REST_URL=http://127.0.0.1:18443 npm run service -- ingest-crypto
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '18443' },
    host: { type: 'string', default: '127.0.0.1' },
    seed: { type: 'string', default: '42' },
    symbols: { type: 'string', default: 'BTCUSDT,ETHUSDT,SOLUSDT' },
    rate: { type: 'string', default: '5' },
    'ping-seconds': { type: 'string', default: '20' },
    'weight-per-minute': { type: 'string', default: '6000' },
  },
});

const number = (name: keyof typeof values): number => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`--${name} must be a non-negative number (got "${values[name]}")\n`);
    process.exit(2);
  }
  return value;
};

const fake = await startFakeBinance({
  host: values.host,
  port: number('port'),
  seed: number('seed'),
  symbols: String(values.symbols).split(',').map((s) => s.trim()).filter(Boolean),
  tradesPerSecond: number('rate'),
  pingIntervalMs: number('ping-seconds') * 1000,
  weightPerMinute: number('weight-per-minute'),
});
process.stdout.write(`${JSON.stringify({ fake: 'binance', wsUrl: fake.wsUrl, restUrl: fake.restUrl })}\n`);

let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  void fake.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

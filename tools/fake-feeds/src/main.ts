import { parseArgs } from 'node:util';
import { startFakeBinance } from './binance.js';
import { startFakeCoinbase } from './coinbase.js';
import { startFakeAlpaca } from './alpaca.js';
import { startFakeYahoo } from './yahoo.js';
import { startFakeFred } from './fred.js';
import { DEMO_ALPACA_KEY_ID, DEMO_ALPACA_SECRET_KEY, DEMO_FEED_PORTS, demoFeedEnv } from '@tickvault/config';

/**
 * Starts every fake provider, each on its own port (defaults in DEMO_FEED_PORTS), for demos and manual runs:
 *   node --import tsx tools/fake-feeds/src/main.ts [--host 127.0.0.1] [--seed 42] [--rate 5] [--garbage-mb 50]
 *   (built: node dist/fake-feeds.js with the same options)
 * and prints one JSON line with the variables that point the ingest services at them
 * (`npm run demo` does all of this for you).
 *
 * Fault switch: SIGUSR2 makes the fake Binance send `--garbage-mb` of garbage frames on every open
 * stream (sendGarbage), between its trades; a JSON line `{"garbage": …}` reports what was sent.
 */
const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    // The host the ingest services use to reach the fakes (compose: the service name).
    'advertise-host': { type: 'string' },
    seed: { type: 'string', default: '42' },
    rate: { type: 'string', default: '5' },
    'garbage-mb': { type: 'string', default: '50' },
  },
});

const number = (name: 'seed' | 'rate' | 'garbage-mb'): number => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`--${name} must be a non-negative number (got "${values[name]}")\n`);
    process.exit(2);
  }
  return value;
};

const host = values.host;
const seed = number('seed');
const rate = number('rate');
const fakes = await Promise.all([
  startFakeBinance({ host, port: DEMO_FEED_PORTS.binance, seed, symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'], tradesPerSecond: rate }),
  startFakeCoinbase({ host, port: DEMO_FEED_PORTS.coinbase, seed, products: ['BTC-USDT', 'ETH-USDT', 'SOL-USDT'], tradesPerSecond: rate }),
  // The demo trades around the clock: the fake market is open whenever you look.
  startFakeAlpaca({ host, port: DEMO_FEED_PORTS.alpaca, seed, symbols: ['AAPL', 'MSFT', 'SPY'], tradesPerSecond: rate, keyId: DEMO_ALPACA_KEY_ID, secretKey: DEMO_ALPACA_SECRET_KEY }),
  startFakeYahoo({ host, port: DEMO_FEED_PORTS.yahoo, seed, symbols: ['AAPL', 'MSFT', 'SPY'] }),
  startFakeFred({ host, port: DEMO_FEED_PORTS.fred, seed, series: ['DGS10', 'DGS2', 'DEXUSEU'] }),
]);
process.stdout.write(`${JSON.stringify({ fakeFeeds: demoFeedEnv(values['advertise-host'] ?? host) })}\n`);

const garbageBytes = Math.round(number('garbage-mb') * 2 ** 20);
process.on('SIGUSR2', () => {
  process.stdout.write(`${JSON.stringify({ garbage: 'sending', bytesPerConnection: garbageBytes })}\n`);
  void fakes[0].controls.sendGarbage({ bytes: garbageBytes }).then((report) => process.stdout.write(`${JSON.stringify({ garbage: 'sent', ...report })}\n`));
});

let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  void Promise.all(fakes.map((f) => f.close())).then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

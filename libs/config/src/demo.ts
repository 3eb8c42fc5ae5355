/** Where `npm run demo` and the compose demo profile run each fake provider. */
export const DEMO_FEED_PORTS = { binance: 18443, coinbase: 18444, alpaca: 18445, yahoo: 18446, fred: 18447 } as const;

/** Credentials the fake Alpaca accepts (not real: they open nothing anywhere else). */
export const DEMO_ALPACA_KEY_ID = 'PKDEMO0000FAKE0000';
export const DEMO_ALPACA_SECRET_KEY = 'demo-secret-for-the-fake-alpaca-only';

/** The variables that point every provider of the ingest services at the fakes on `host`. */
export function demoFeedEnv(host: string): Record<string, string> {
  const p = DEMO_FEED_PORTS;
  return {
    DATA_ENVIRONMENT: 'demo',
    CRYPTO_SOURCES: 'binance,coinbase',
    CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT,SOL/USDT',
    BINANCE_WS_URL: `ws://${host}:${p.binance}`,
    BINANCE_REST_URL: `http://${host}:${p.binance}`,
    COINBASE_WS_URL: `ws://${host}:${p.coinbase}`,
    COINBASE_REST_URL: `http://${host}:${p.coinbase}`,
    STOCK_SOURCES: 'alpaca,yahoo',
    STOCK_SYMBOLS: 'AAPL,MSFT,SPY',
    ALPACA_WS_URL: `ws://${host}:${p.alpaca}/v2`,
    ALPACA_REST_URL: `http://${host}:${p.alpaca}`,
    ALPACA_KEY_ID: DEMO_ALPACA_KEY_ID,
    ALPACA_SECRET_KEY: DEMO_ALPACA_SECRET_KEY,
    YAHOO_CHART_URL: `http://${host}:${p.yahoo}/v8/finance/chart`,
    MACRO_SOURCES: 'fred',
    MACRO_SERIES: 'DGS10,DGS2,DEXUSEU',
    FRED_API_URL: `http://${host}:${p.fred}/fred`,
    FRED_GRAPH_URL: `http://${host}:${p.fred}/graph/fredgraph.csv`,
  };
}

export * from './source.js';
export * from './registry.js';
export * from './us-market-hours.js';
export { createSimSource } from './sim/sim-source.js';
export { createBinanceSource, BINANCE_DEFAULTS, type BinanceSource, type BinanceSourceOptions, type BinanceStats } from './binance/binance-source.js';
export { TokenBucketLimiter, type RequestWeightLimiter } from './binance/rate-limiter.js';
export { fromBinanceSymbol, toBinanceSymbol, toTradeStream, BINANCE_QUOTE_ASSETS } from './binance/symbols.js';

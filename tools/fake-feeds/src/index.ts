export * from './binance.js';
export * from './yahoo.js';
export * from './fred.js';
export * from './coinbase.js';
export * from './alpaca.js';

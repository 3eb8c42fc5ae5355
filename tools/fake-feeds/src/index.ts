export * from './binance.js';

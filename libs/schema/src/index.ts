export * from './market.js';
export * from './tick.js';
export * from './queues.js';
export * from './live.js';

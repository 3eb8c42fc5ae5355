export * from './market.js';
export * from './tick.js';
export * from './instant.js';
export * from './queues.js';
export * from './live.js';
export * from './bar.js';
export * from './calendar.js';

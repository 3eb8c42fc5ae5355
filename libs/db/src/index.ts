export * from './client.js';
export * from './migrate.js';
export * from './tick-store.js';
export * from './events.js';
export * from './retention.js';
export * from './verify.js';
export * from './report.js';
export * from './read-api.js';

export * from './connection.js';
export * from './options.js';
export * from './queues.js';
export * from './redis-refusal.js';
export * from './redis-memory.js';
export * from './service-registry.js';
export * from './shard-coverage.js';

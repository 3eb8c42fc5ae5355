export * from './env.js';
export * from './outbox.js';
export * from './pipeline.js';
export * from './service.js';

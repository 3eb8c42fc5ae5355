export * from './env.js';
export * from './outbox.js';
export * from './pipeline.js';
export * from './service.js';
export * from './delivered-progress.js';
export * from './symbol-leases.js';
export * from './source-runner.js';
export * from './source-connection.js';

export * from './logger.js';
export * from './backoff.js';
export * from './health.js';
export * from './shutdown.js';
export * from './metrics.js';
export * from './throttled-log.js';

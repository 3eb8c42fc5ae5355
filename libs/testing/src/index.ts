export * from './services.js';
export * from './tcp-proxy.js';
export * from './process.js';
export * from './ticks.js';
export * from './redis-server.js';
export * from './postgres-cluster.js';
export * from './redis-cluster.js';

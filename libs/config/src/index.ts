export * from './env.js';
export * from './load.js';
export * from './mask.js';
export * from './connection-url.js';
export * from './services.js';
export * from './env-table.js';
export * from './demo.js';
export * from './secret-files.js';

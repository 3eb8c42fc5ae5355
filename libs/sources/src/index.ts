export * from './source.js';
export * from './registry.js';
export * from './us-market-hours.js';
export { createSimSource } from './sim/sim-source.js';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{apps,libs,tools}/*/src/**/*.spec.ts'],
    globalSetup: ['libs/testing/src/global-setup.ts'],
    // Integration tests start real processes and wait on real queues.
    testTimeout: 90_000,
    hookTimeout: 120_000,
    // Two cores: more parallel files only make them contend.
    maxWorkers: 2,
    pool: 'forks',
  },
});

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

describe('BullMQ packs with the native msgpackr extractor', () => {
  it('loads msgpackr-extract for this platform (the optional dependency, not a stand-in)', async () => {
    // msgpackr as BullMQ itself resolves it.
    const fromBullmq = createRequire(createRequire(import.meta.url).resolve('bullmq'));
    const msgpackr = (await import(fromBullmq.resolve('msgpackr'))) as { isNativeAccelerationEnabled: boolean };
    expect(msgpackr.isNativeAccelerationEnabled).toBe(true);
  });
});

import type { Worker } from 'bullmq';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isRedisRefusal, RedisRefusalPause } from './redis-refusal.js';

/** Just the pause state a BullMQ worker exposes. */
function fakeWorker() {
  const w = { paused: false, pauses: 0, resumes: 0 };
  const worker = {
    pause: async () => { w.paused = true; w.pauses++; },
    resume: () => { w.paused = false; w.resumes++; },
    isPaused: () => w.paused,
  } as unknown as Worker;
  return { worker, w };
}

const OOM = new Error("OOM command not allowed when used memory > 'maxmemory'.");

describe('RedisRefusalPause', () => {
  afterEach(() => vi.useRealTimers());

  it('knows the replies of a Redis that refuses writes, and nothing else', () => {
    expect(isRedisRefusal(OOM)).toBe(true);
    expect(isRedisRefusal(new Error("READONLY You can't write against a read only replica."))).toBe(true);
    expect(isRedisRefusal(new Error('MISCONF Redis is configured to save RDB snapshots'))).toBe(true);
    expect(isRedisRefusal(new Error('Connection is closed.'))).toBe(false);
    expect(isRedisRefusal('OOM')).toBe(false);
  });

  it('pauses on a refusal, resumes after a growing backoff, and holds while the database gate is down', async () => {
    vi.useFakeTimers();
    const { worker, w } = fakeWorker();
    let dbUp = true;
    const refusal = new RedisRefusalPause(() => [worker], pino({ level: 'silent' }), () => dbUp);
    expect(refusal.onError(new Error('Connection is closed.'))).toBe(false);
    expect(w.pauses).toBe(0);

    expect(refusal.onError(OOM)).toBe(true);
    expect(w.paused).toBe(true);
    expect(refusal.refusing).toBe(true);
    // More refusals while paused change nothing.
    for (let i = 0; i < 100; i++) refusal.onError(OOM);
    expect(w.pauses).toBe(1);
    await vi.advanceTimersByTimeAsync(700);
    expect(w.paused).toBe(false);
    // Resumed, but still not ready: an idle worker meets the next refusal only after its blocking wait.
    expect(refusal.refusing).toBe(true);

    // Still refusing: the second pause is longer (about 1 s, not 0.5 s).
    refusal.onError(OOM);
    await vi.advanceTimersByTimeAsync(700);
    expect(w.paused).toBe(true);
    await vi.advanceTimersByTimeAsync(700);
    expect(w.paused).toBe(false);

    // Something else resumed the workers during a pause: the next refusal pauses them again.
    refusal.onError(OOM);
    worker.resume();
    refusal.onError(OOM);
    expect(w.paused).toBe(true);

    // Postgres is down when the pause ends: the gate resumes them later, not this.
    dbUp = false;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(w.paused).toBe(true);

    // A completed job ends the streak: the next refusal starts at 0.5 s again.
    dbUp = true;
    worker.resume();
    refusal.onSuccess();
    refusal.onError(OOM);
    await vi.advanceTimersByTimeAsync(700);
    expect(w.paused).toBe(false);
    refusal.stop();
  });
});

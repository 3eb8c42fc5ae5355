import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { throttledLog } from './throttled-log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('throttledLog', () => {
  it('writes the first of a repeated error at once and counts the repeats into the next line', async () => {
    const { logger, lines } = capture();
    let clock = 0;
    const log = throttledLog(logger, 'error', 1000, () => clock);
    for (let i = 0; i < 2400; i++) {
      clock = i; // 2,400 failures over 2.4 s
      log({ err: 'OOM command not allowed', queue: 'ticks' }, 'tick worker error');
    }
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.msg, l.suppressedSinceLast])).toEqual([
      ['tick worker error', undefined],
      ['tick worker error', 999],
      ['tick worker error', 999],
    ]);
    expect(lines.every((l) => l.level === 50 && l.queue === 'ticks')).toBe(true);
  });

  it('never holds back a different error behind a repeated one', async () => {
    const { logger, lines } = capture();
    const log = throttledLog(logger, 'warn', 60_000, () => 0);
    log({ err: 'a' }, 'redis connection error');
    log({ err: 'a' }, 'redis connection error');
    log({ err: 'b' }, 'redis connection error');
    log({ err: 'a' }, 'queue error');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.msg, l.err])).toEqual([
      ['redis connection error', 'a'],
      ['redis connection error', 'b'],
      ['queue error', 'a'],
    ]);
  });
});

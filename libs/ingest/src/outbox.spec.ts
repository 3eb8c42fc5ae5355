import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { SystemEvent, TickBatchJob } from '@tickvault/schema';
import { Outbox } from './outbox.js';

const logger = pino({ level: 'silent' });
const job = (n: number, tag: string): TickBatchJob => ({ v: 1, producer: 'test', ticks: Array.from({ length: n }, (_, i) => `${tag}${i}`), rejected: [] });
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('Outbox', () => {
  it('keeps jobs while Redis refuses them and sends them, in order, once it accepts', async () => {
    let redisUp = false;
    const sent: string[] = [];
    const events: SystemEvent[] = [];
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => {
          if (!redisUp) throw new Error('Stream isn\'t writeable and enableOfflineQueue options is false');
          sent.push(...jobs.map((j) => String(j.data.ticks[0])));
        },
        sendEvents: async (e) => { if (!redisUp) throw new Error('down'); events.push(...e.map((x) => x.data)); },
      },
      1000, logger, 'ingest-test',
    );
    outbox.pushTicks(job(10, 'a'));
    outbox.pushTicks(job(10, 'b'));
    await until(() => outbox.stats().sendFailures > 0);
    expect(outbox.healthy).toBe(false);
    expect(outbox.stats().bufferedTicks).toBe(20);
    redisUp = true;
    await until(() => sent.length === 2);
    expect(sent).toEqual(['a0', 'b0']);
    await until(() => events.some((e) => e.kind === 'redis_outage'));
    expect(outbox.healthy).toBe(true);
    await outbox.close(Date.now() + 100);
  });

  it('drops the oldest ticks beyond its bound, counts them and reports them on recovery', async () => {
    let redisUp = false;
    const sent: string[] = [];
    const events: SystemEvent[] = [];
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => { if (!redisUp) throw new Error('down'); sent.push(...jobs.map((j) => String(j.data.ticks[0]))); },
        sendEvents: async (e) => { if (!redisUp) throw new Error('down'); events.push(...e.map((x) => x.data)); },
      },
      25, logger, 'ingest-test',
    );
    outbox.pushTicks(job(10, 'a'));
    outbox.pushTicks(job(10, 'b'));
    outbox.pushTicks(job(10, 'c'));
    expect(outbox.stats()).toMatchObject({ bufferedTicks: 20, droppedTicks: 10 });
    redisUp = true;
    await until(() => sent.length === 2);
    expect(sent).toEqual(['b0', 'c0']);
    await until(() => events.some((e) => e.details.droppedTicks === 10));
    await outbox.close(Date.now() + 100);
  });

  it('never loses a job that was in flight when the bound forced a drop, and keeps ids across resends', async () => {
    let release!: () => void;
    let attempts = 0;
    const ids: string[][] = [];
    const sent: string[] = [];
    const delivered: string[] = [];
    const outbox = new Outbox(
      {
        sendTicks: async (jobs) => {
          attempts++;
          ids.push(jobs.map((j) => j.id));
          if (attempts === 1) throw new Error('timeout (maybe it reached Redis)');
          if (attempts === 2) await new Promise<void>((r) => (release = r));
          sent.push(...jobs.map((j) => String(j.data.ticks[0])));
        },
        sendEvents: async () => {},
        onDelivered: (jobs) => delivered.push(...jobs.map((j) => String(j.ticks[0]))),
      },
      25, logger, 'ingest-test',
    );
    outbox.pushTicks(job(10, 'a'));
    outbox.pushTicks(job(10, 'b'));
    await until(() => attempts === 2); // the retry is in flight now, holding a and b
    expect(ids[1]).toEqual(ids[0]); // a resend carries the same ids, so BullMQ can ignore a duplicate
    outbox.pushTicks(job(10, 'c'));
    outbox.pushTicks(job(10, 'd')); // over the bound: c (not in flight) is dropped, a and b are not
    release();
    await until(() => sent.length === 3);
    expect(sent).toEqual(['a0', 'b0', 'd0']);
    expect(delivered).toEqual(['a0', 'b0', 'd0']);
    expect(outbox.stats()).toMatchObject({ droppedTicks: 10, bufferedTicks: 0 });
    await outbox.close(Date.now() + 100);
  });
});

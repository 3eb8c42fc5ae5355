import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { LiveCandle, LiveUpdate } from '@tickvault/schema';
import { LiveHub } from './live-hub.js';

/** A response whose socket takes `room` writes, then reports full until the test drains it. */
class FakeResponse extends EventEmitter {
  written: string[] = [];
  pending: string[] = [];
  destroyed = false;
  ended = false;
  constructor(private room: number) {
    super();
  }
  get writableLength(): number {
    return this.pending.reduce((n, s) => n + s.length, 0);
  }
  write(chunk: string): boolean {
    this.pending.push(chunk);
    return this.pending.length <= this.room;
  }
  /** The client reads everything buffered. */
  drain(): void {
    this.written.push(...this.pending);
    this.pending = [];
    this.emit('drain');
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  candles(): LiveCandle[] {
    return [...this.written, ...this.pending].filter((c) => c.startsWith('event: candle')).map((c) => JSON.parse(c.split('data: ')[1]!) as LiveCandle);
  }
}

const limits = { maxQueuedEvents: 5, stallTimeoutMs: 1000, maxClients: 3 };
const candle = (symbol: string, timeframe: LiveCandle['timeframe'], n: number): LiveCandle => ({
  source: 'sim', symbol, timeframe, openTime: `2024-01-01T00:${String(n % 60).padStart(2, '0')}:00Z`,
  open: '1.10', high: '1.20', low: '1.00', close: `1.${n}`, volume: '5', tradeCount: n,
});
const update = (...candles: LiveCandle[]): string => JSON.stringify({ at: new Date().toISOString(), candles } satisfies LiveUpdate);
const filter = (series: string, timeframe: string) => ({ series: new Set([series]), timeframe });

describe('LiveHub', () => {
  it('sends each client only the candles of its series and timeframe', () => {
    const hub = new LiveHub(limits);
    const btc = new FakeResponse(1000);
    const eth = new FakeResponse(1000);
    hub.add(btc as unknown as ServerResponse, filter('sim:BTC/USDT', '1m'));
    hub.add(eth as unknown as ServerResponse, filter('sim:ETH/USDT', '5m'));
    hub.publish(update(candle('BTC/USDT', '1m', 1), candle('BTC/USDT', '5m', 2), candle('ETH/USDT', '5m', 3)));
    expect(btc.candles().map((c) => c.tradeCount)).toEqual([1]);
    expect(eth.candles().map((c) => c.tradeCount)).toEqual([3]);
  });

  it('ignores and counts messages that are not live updates', () => {
    const hub = new LiveHub(limits);
    hub.publish('not json');
    hub.publish(JSON.stringify({ at: 'x', candles: [{ source: 'sim' }] }));
    expect(hub.stats()).toMatchObject({ updatesReceived: 2, invalidUpdates: 2 });
  });

  it('queues at most maxQueuedEvents for a client that stopped reading, drops the oldest and says so when it resumes', () => {
    const hub = new LiveHub(limits);
    const slow = new FakeResponse(2);
    const fast = new FakeResponse(1_000_000);
    hub.add(slow as unknown as ServerResponse, filter('sim:BTC/USDT', '1m'));
    hub.add(fast as unknown as ServerResponse, filter('sim:BTC/USDT', '1m'));
    for (let n = 1; n <= 50; n++) hub.publish(update(candle('BTC/USDT', '1m', n)));

    // The fast client got everything; the slow one holds its socket's share plus at most 5 queued events.
    expect(fast.candles().map((c) => c.tradeCount)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(hub.stats()).toMatchObject({ clients: 2, maxQueuedEvents: 5, droppedEvents: 50 - 3 - 5 });

    // The reader catches up: the queue flushes over as many drains as its socket needs.
    for (let i = 0; i < 10 && (slow.pending.length > 0 || hub.stats().maxQueuedEvents > 0); i++) slow.drain();
    expect(slow.written.filter((c) => c.startsWith('event: dropped'))).toEqual(['event: dropped\ndata: {"dropped":42}\n\n']);
    // Newest events survive: the first three written before the socket filled, then the last five.
    expect(slow.candles().map((c) => c.tradeCount)).toEqual([1, 2, 3, 46, 47, 48, 49, 50]);
    expect(hub.stats().maxQueuedEvents).toBe(0);
  });

  it('heartbeats readers and disconnects a client whose socket stays full past the stall timeout', () => {
    const hub = new LiveHub(limits);
    const ok = new FakeResponse(1_000_000);
    const stuck = new FakeResponse(0);
    hub.add(ok as unknown as ServerResponse, filter('sim:BTC/USDT', '1m'));
    hub.add(stuck as unknown as ServerResponse, filter('sim:BTC/USDT', '1m'));
    hub.publish(update(candle('BTC/USDT', '1m', 1)));
    const blockedAt = Date.now();
    hub.tick(blockedAt + 500);
    expect(ok.pending.filter((c) => c.startsWith(': heartbeat'))).toHaveLength(1);
    expect(stuck.destroyed).toBe(false);
    hub.tick(blockedAt + 5000);
    expect(stuck.destroyed).toBe(true);
    expect(hub.stats()).toMatchObject({ clients: 1, stalledDisconnects: 1 });
  });

  it('refuses clients beyond maxClients', () => {
    const hub = new LiveHub(limits);
    for (let i = 0; i < 3; i++) expect(hub.add(new FakeResponse(10) as unknown as ServerResponse, filter('sim:X', '1m'))).not.toBeNull();
    expect(hub.add(new FakeResponse(10) as unknown as ServerResponse, filter('sim:X', '1m'))).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { OutageClock, type Outage } from './reconnect.js';

describe('OutageClock (streams and polls)', () => {
  it('measures one outage from the first loss until data flows, whatever failed in between', () => {
    const events: string[] = [];
    const stats = { reconnects: [] as Outage[] };
    const clock = new OutageClock(
      { onConnected: () => events.push('up'), onDisconnected: (d) => events.push(`down ${d}`), onReconnect: (r) => events.push(`back ${r}`) },
      stats,
    );
    expect(clock.live(1_000)).toBeUndefined(); // the first connection is no reconnect
    clock.lost('FRED 500', 'FRED 500', 2_000);
    clock.lost('unreachable: ECONNREFUSED', 'unreachable: ECONNREFUSED', 5_000);
    expect(clock.live(9_000)).toEqual({ reason: 'unreachable: ECONNREFUSED', downMs: 7_000, backoffMs: 0 });
    expect(clock.live(10_000)).toBeUndefined();
    expect(stats.reconnects).toEqual([{ reason: 'unreachable: ECONNREFUSED', downMs: 7_000, backoffMs: 0 }]);
    expect(events).toEqual(['up', 'down FRED 500', 'down unreachable: ECONNREFUSED', 'up', 'back unreachable: ECONNREFUSED', 'up']);
  });

  it('keeps the last 100 outages', () => {
    const stats = { reconnects: [] as Outage[] };
    const clock = new OutageClock({}, stats);
    for (let i = 0; i < 150; i++) {
      clock.lost(`r${i}`, `r${i}`, i * 10);
      clock.live(i * 10 + 5);
    }
    expect(stats.reconnects).toHaveLength(100);
    expect(stats.reconnects[0]!.reason).toBe('r50');
  });
});

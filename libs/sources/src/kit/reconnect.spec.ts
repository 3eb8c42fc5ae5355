import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { reconnectLoop, type NextAttempt } from './reconnect.js';
import type { ConnectionStats, SessionEnd } from './ws-session.js';

const newStats = (): ConnectionStats => ({ connections: 0, reconnects: [], staleTerminations: 0 });
const fast: NextAttempt = { initialMs: 1, maxMs: 2 };

describe('reconnectLoop', () => {
  it('measures an outage from the first loss until a connection is live again, across failed attempts', async () => {
    const stats = newStats();
    const stop = new AbortController();
    const reconnected: string[] = [];
    const disconnected: string[] = [];
    let calls = 0;
    let lostAt = 0;
    let backAt = 0;
    // Live, then lost; three attempts that each fail after 40 ms; then live again.
    const connect = async (live: (at: number) => void): Promise<SessionEnd> => {
      calls++;
      if (calls === 1) {
        live(Date.now());
        lostAt = Date.now();
        return { reason: 'closed', detail: '', healthy: true };
      }
      if (calls <= 4) {
        await sleep(40);
        return { reason: 'error', detail: 'ECONNREFUSED', healthy: false };
      }
      backAt = Date.now();
      live(backAt);
      stop.abort();
      return { reason: 'aborted', detail: 'stopped', healthy: false };
    };
    let waited = 0;
    await reconnectLoop({
      ctx: { signal: stop.signal, onReconnect: (r) => reconnected.push(r), onDisconnected: (r) => disconnected.push(r) },
      stats,
      connect,
      next: () => fast,
      onLive: () => {},
      onRetry: (_end, retryInMs) => void (waited += retryInMs),
    });
    expect(calls).toBe(5);
    expect(disconnected).toHaveLength(4);
    // One outage, not one per failed attempt, and it spans all three failures (each at least 40 ms).
    expect(stats.reconnects).toHaveLength(1);
    expect(reconnected).toEqual(['error']);
    expect(stats.reconnects[0]!.downMs).toBeGreaterThanOrEqual(3 * 40);
    expect(stats.reconnects[0]!.downMs).toBeLessThanOrEqual(backAt - lostAt);
    // Of that, the backoff the loop chose: every retry's wait, added up.
    expect(waited).toBeGreaterThan(0);
    expect(stats.reconnects[0]!.backoffMs).toBe(waited);
  });

  it('records no backoff for a planned reconnect, however long the reconnect itself takes', async () => {
    const stats = newStats();
    const stop = new AbortController();
    let calls = 0;
    await reconnectLoop({
      ctx: { signal: stop.signal },
      stats,
      connect: async (live) => {
        calls++;
        if (calls === 1) {
          live(Date.now());
          return { reason: 'shutdown', detail: '', healthy: true };
        }
        await sleep(30); // a slow handshake: part of the outage, but no backoff
        live(Date.now());
        stop.abort();
        return { reason: 'aborted', detail: '', healthy: false };
      },
      next: (end) => (end.reason === 'shutdown' ? 'at-once' : fast),
      onLive: () => {},
      onRetry: () => {},
    });
    expect(stats.reconnects).toHaveLength(1);
    expect(stats.reconnects[0]).toMatchObject({ reason: 'shutdown', backoffMs: 0 });
    expect(stats.reconnects[0]!.downMs).toBeGreaterThanOrEqual(25);
  });

  it('resets the backoff only after a healthy connection, and comes back at once when told to', async () => {
    const stop = new AbortController();
    const ends: SessionEnd[] = [
      { reason: 'error', detail: '', healthy: false },
      { reason: 'error', detail: '', healthy: false },
      { reason: 'closed', detail: '', healthy: true },
      { reason: 'shutdown', detail: '', healthy: true },
    ];
    const retries: { reason: string; retryInMs: number; attempt: number }[] = [];
    await reconnectLoop({
      ctx: { signal: stop.signal },
      stats: newStats(),
      random: () => 1,
      connect: async () => ends.shift() ?? (stop.abort(), { reason: 'aborted', detail: '', healthy: false }),
      next: (end) => (end.reason === 'shutdown' ? 'at-once' : fast),
      onLive: () => {},
      onRetry: (end, retryInMs, attempt) => retries.push({ reason: end.reason, retryInMs, attempt }),
    });
    expect(retries).toEqual([
      { reason: 'error', retryInMs: 1, attempt: 1 },
      { reason: 'error', retryInMs: 2, attempt: 2 },
      { reason: 'closed', retryInMs: 1, attempt: 1 },
      { reason: 'shutdown', retryInMs: 0, attempt: 0 },
    ]);
  });
});

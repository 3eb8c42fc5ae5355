import { describe, expect, it } from 'vitest';
import { SourceConnection } from './source-connection.js';

describe('SourceConnection', () => {
  it('goes idle → connecting → connected → reconnecting → connected, telling each change once', () => {
    const changes: string[] = [];
    const connection = new SourceConnection('binance', () => changes.push(connection.status([]).state));
    expect(connection.status([]).state).toBe('idle');
    connection.streaming();
    connection.connected();
    connection.connected();
    connection.disconnected('stale: no frame for 9000 ms');
    connection.connected();
    expect(changes).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(connection.status(['BTC/USDT'])).toMatchObject({ source: 'binance', state: 'connected', reason: null, symbols: ['BTC/USDT'] });
  });

  it('keeps "since" at the first failure while retries fail; a new reason is a change worth telling', () => {
    const changes: (string | null)[] = [];
    const connection = new SourceConnection('alpaca', () => changes.push(connection.status([]).reason));
    connection.streaming();
    connection.connected();
    connection.disconnected('closed');
    const since = connection.status([]).since;
    connection.disconnected('error: connect ECONNREFUSED');
    connection.disconnected('error: connect ECONNREFUSED');
    expect(connection.status([])).toMatchObject({ state: 'reconnecting', since, reason: 'error: connect ECONNREFUSED' });
    expect(changes).toEqual([null, null, 'closed', 'error: connect ECONNREFUSED']);
  });

  it('a restart while connected (new symbols) is no outage; holding no symbols is idle, not disconnected', () => {
    const connection = new SourceConnection('coinbase');
    connection.streaming();
    connection.connected();
    connection.streaming();
    expect(connection.status([]).state).toBe('connected');
    connection.idle();
    expect(connection.gauges()).toEqual({ connected: 0, disconnectedSeconds: 0, lastMessageAgeSeconds: null });
  });

  it('gives the gauges: connected, seconds out of reach, seconds since the last message', () => {
    const connection = new SourceConnection('yahoo');
    connection.streaming();
    const start = Date.parse(connection.status([]).since);
    expect(connection.gauges(start + 12_000)).toEqual({ connected: 0, disconnectedSeconds: 12, lastMessageAgeSeconds: null });
    connection.connected();
    connection.message(start + 20_000);
    expect(connection.gauges(start + 25_000)).toEqual({ connected: 1, disconnectedSeconds: 0, lastMessageAgeSeconds: 5 });
    expect(connection.status([]).lastMessageAt).toBe(new Date(start + 20_000).toISOString());
  });

  it('cuts a long provider reason', () => {
    const connection = new SourceConnection('fred');
    connection.streaming();
    connection.disconnected('x'.repeat(1000));
    expect(connection.status([]).reason).toHaveLength(300);
  });
});

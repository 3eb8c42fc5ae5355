import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { openSession, type ConnectionStats, type SessionOptions } from './ws-session.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A local server; `greet` is sent to every client that connects. */
async function serve(greet?: string): Promise<string> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
  servers.push(server);
  server.on('connection', (ws) => greet && ws.send(greet));
  await new Promise((resolve) => server.once('listening', resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const newStats = (): ConnectionStats => ({ connections: 0, reconnects: [], staleTerminations: 0 });
// Long enough that a busy machine does not make a test's connection look dead before it opens.
const base = (url: string, stats: ConnectionStats, signal: AbortSignal): SessionOptions => ({
  url,
  signal,
  stats,
  staleMs: 10_000,
  healthyMs: 60_000,
  maxPayload: 1 << 16,
  onOpen: () => {},
  onMessage: () => {},
});

describe('openSession', () => {
  it('cuts a connection that stays silent past staleMs, once, and says so', async () => {
    const stats = newStats();
    const end = await openSession({ ...base(await serve(), stats, new AbortController().signal), staleMs: 200 });
    expect(end.reason).toBe('stale');
    expect(end.detail).toMatch(/^no frame, ping or pong for \d+ ms$/);
    expect(end.healthy).toBe(false);
    expect(stats.staleTerminations).toBe(1);
  });

  it('keeps the first reason given, and ends with `aborted` when stopped', async () => {
    const url = await serve('hello');
    const stats = newStats();
    let lived: number | undefined;
    const ended = await openSession({
      ...base(url, stats, new AbortController().signal),
      onLive: (at) => (lived = at),
      onMessage: (text, _bytes, session) => {
        session.live();
        session.delivered();
        session.end('shutdown', text);
        session.end('max-age', 'later');
      },
    });
    expect(ended).toEqual({ reason: 'shutdown', detail: 'hello', healthy: false }); // live for less than healthyMs
    expect(lived).toBeTypeOf('number');

    const stop = new AbortController();
    const stopped = await openSession({ ...base(url, stats, stop.signal), onOpen: () => stop.abort() });
    expect(stopped.reason).toBe('aborted');
  });

  it('ends a connection whose provider handshake does not finish in time', async () => {
    const end = await openSession({ ...base(await serve(), newStats(), new AbortController().signal), handshakeTimeoutMs: 100 });
    expect(end.reason).toBe('handshake-timeout');
  });
});

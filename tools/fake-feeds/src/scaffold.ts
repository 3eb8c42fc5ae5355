import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * The server plumbing and fault switches every fake shares, so a fake's own file holds only its
 * provider's wire format: one HTTP port (and WebSocket upgrades on it), listening and closing, the
 * 429 switch, held (stalled) requests, a port that closes for an outage, and for the streaming
 * fakes the connection set with drops, stalls, refused upgrades, withheld windows and duplicates.
 */

/** The stream fault switches Binance, Coinbase and Alpaca share, with the same meaning; `K` names their malformed frames. */
export interface StreamFaults<K extends string> {
  /** Terminates every open connection now; returns how many. */
  dropAll(): number;
  /** Drops every connection, refuses new ones (HTTP 503 on upgrade) and never pushes what falls due in the next `ms`. */
  outage(ms: number): void;
  /** Every open connection stops sending anything (pings and pongs included) without closing. New connections are normal. */
  stall(): number;
  /** Send every data frame twice. */
  setDuplicates(on: boolean): void;
  /** The next `count` REST requests are answered 429 with this Retry-After. */
  force429(options: { retryAfterSeconds: number; count?: number }): void;
  /** Sends the given malformed frames (default: all kinds) on every open connection now (Alpaca: every authenticated one). */
  injectMalformed(kinds?: readonly K[]): number;
}

/** Binance and Coinbase: data executed in the next `ms` is never pushed while connections stay open; REST still has it. */
export interface WithholdFault {
  withhold(ms: number): void;
}

/** The request fault switches of the polled fakes (FRED, Yahoo). */
export interface PollFaults {
  /** The next `count` requests are answered 429 (`Retry-After` only when given). */
  force429(options?: { retryAfterSeconds?: number; count?: number }): void;
  /** For `ms`: every request answered with the provider's 5xx (`mode: 'status'`) or the port closed (`mode: 'refuse'`). */
  outage(ms: number, options?: { mode?: 'status' | 'refuse' }): Promise<void>;
  /** The next `count` requests are held open and never answered. */
  stall(count?: number): void;
}

/** What a streaming fake hands its caller. */
export interface StreamingFake<Controls, Stats extends StreamStats> {
  wsUrl: string;
  restUrl: string;
  port: number;
  controls: Controls;
  stats: Stats;
  close(): Promise<void>;
}

type Endpoints = Omit<StreamingFake<never, StreamStats>, 'controls' | 'stats'>;

export interface StreamStats {
  connections: number;
  open: number;
  refused: number;
}

export interface FeedConnection {
  ws: WebSocket;
  stalled: boolean;
}

/** The next `count` requests answered 429 with a given Retry-After (undefined: none sent). */
export class Forced429<T extends number | undefined = number> {
  private armed: { retryAfterSeconds: T; count: number } | undefined;

  arm(retryAfterSeconds: T, count = 1): void {
    this.armed = { retryAfterSeconds, count };
  }

  /** For a request: the Retry-After to answer 429 with, or null to serve it. */
  take(): { retryAfterSeconds: T } | null {
    if (!this.armed || this.armed.count <= 0) return null;
    this.armed.count--;
    return { retryAfterSeconds: this.armed.retryAfterSeconds };
  }

  clear(): void {
    this.armed = undefined;
  }
}

/** Instants (ms) whose data is never pushed: an outage or a withhold; never cleared, that data was never sent. */
export class Windows {
  private readonly spans: [number, number][] = [];

  open(ms: number, from = Date.now()): void {
    this.spans.push([from, from + ms]);
  }

  has(at: number): boolean {
    return this.spans.some(([from, to]) => at >= from && at < to);
  }
}

/** Requests or weight counted per UTC minute, for the fakes that enforce a per-minute limit. */
export class MinuteBudget {
  private minute = -1;
  used = 0;

  /** The current minute (a new one starts at zero). */
  at(now: number): number {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.minute) {
      this.minute = minute;
      this.used = 0;
    }
    return minute;
  }

  /** Whole seconds until the next minute starts. */
  static secondsToNextMinute(now: number): number {
    return Math.ceil((Math.floor(now / 60_000 + 1) * 60_000 - now) / 1000);
  }
}

/** Where every fake listens, and what every fake's trades or values follow from. */
export interface ListenOptions {
  /** Same seed, same data (default 42). */
  seed?: number;
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

/** The options of the fakes that keep a tape of trades. */
export interface TapeOptions extends ListenOptions {
  /** Average trades per second per instrument (default 5). */
  tradesPerSecond?: number;
  /** Trades exist from this long before the server started (default 2 h). */
  historyMs?: number;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

/** The WebSocket side of a streaming fake. */
export interface StreamSide<C extends FeedConnection> {
  stats: StreamStats;
  /** The connection for an upgrade to `url` (a path `serves` admitted). */
  accept(url: URL, ws: WebSocket): C;
  /** Whether the path is served at all (else 404); checked before the handshake. */
  serves?(url: URL): boolean;
  /** Off where a stalled connection must stop answering pings too (the fake pongs itself). */
  autoPong?: boolean;
}

const rejectUpgrade = (socket: { end(text: string): void }, status: string) =>
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);

/** One fake's server: listening on one port, with the fault switches that do not depend on its wire format. */
export class FeedServer<C extends FeedConnection = FeedConnection> {
  readonly connections = new Set<C>();
  readonly host: string;
  port = 0;
  /** Set by setDuplicates: `send` writes every data frame twice. */
  duplicates = false;
  readonly withheld = new Windows();
  /** The REST side's force429 switch: the fake asks `take()` for each request. */
  readonly forced = new Forced429();
  private refuseUntil = 0;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly held = new Set<http.ServerResponse>();
  private readonly timers: NodeJS.Timeout[] = [];
  private holdCount = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: ListenOptions,
    request: RequestHandler,
    stream?: StreamSide<C>,
  ) {
    this.host = options.host ?? '127.0.0.1';
    this.server = http.createServer((req, res) => request(req, res, new URL(req.url ?? '/', 'http://fake')));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    if (!stream) return;
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, autoPong: stream.autoPong ?? true });
    this.wss = wss;
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (stream.serves && !stream.serves(url)) return rejectUpgrade(socket, '404 Not Found');
      if (Date.now() < this.refuseUntil) {
        stream.stats.refused++;
        return rejectUpgrade(socket, '503 Service Unavailable');
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        const connection = stream.accept(url, ws);
        this.connections.add(connection);
        stream.stats.connections++;
        stream.stats.open++;
        ws.on('close', () => {
          this.connections.delete(connection);
          stream.stats.open--;
        });
      });
    });
  }

  async listen(port = this.options.port ?? 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** `scheme://host:port` with an IPv6 host in brackets. */
  url(scheme: 'http' | 'ws'): string {
    return `${scheme}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Runs `tick` every `ms` until close. */
  every(ms: number, tick: () => void): void {
    this.timers.push(setInterval(tick, ms));
  }

  /** Open connections that are not stalled: the ones a push or an injected frame reaches. */
  live(): C[] {
    return [...this.connections].filter((c) => !c.stalled && c.ws.readyState === WebSocket.OPEN);
  }

  /** Sends a data frame (twice while duplicates are on); returns how many were sent. */
  send(connection: C, data: string | Buffer): number {
    if (connection.ws.readyState !== WebSocket.OPEN) return 0;
    connection.ws.send(data);
    if (!this.duplicates) return 1;
    connection.ws.send(data);
    return 2;
  }

  /** Sends one frame per kind on every live connection; returns how many. */
  inject<K>(kinds: readonly K[], frame: (connection: C, kind: K) => string, targets = this.live()): number {
    let n = 0;
    for (const connection of targets) {
      for (const kind of kinds) {
        connection.ws.send(frame(connection, kind));
        n++;
      }
    }
    return n;
  }

  /** The switches of StreamFaults but injectMalformed, whose frames are each fake's own. */
  streamFaults(): Omit<StreamFaults<never>, 'injectMalformed'> & WithholdFault {
    return {
      dropAll: () => {
        const n = this.connections.size;
        for (const connection of this.connections) connection.ws.terminate();
        return n;
      },
      outage: (ms) => {
        this.refuseUntil = Date.now() + ms;
        this.withheld.open(ms);
        for (const connection of this.connections) connection.ws.terminate();
      },
      withhold: (ms) => this.withheld.open(ms),
      stall: () => {
        for (const connection of this.connections) connection.stalled = true;
        return this.connections.size;
      },
      setDuplicates: (on) => {
        this.duplicates = on;
      },
      force429: ({ retryAfterSeconds, count = 1 }) => this.forced.arm(retryAfterSeconds, count),
    };
  }

  /** Clears the stream faults that end (refused upgrades, duplicates, forced 429s); withheld windows stay. */
  resetStream(): void {
    this.refuseUntil = 0;
    this.duplicates = false;
    this.forced.clear();
  }

  /**
   * Listens, then hands a streaming fake to its caller: the endpoints and close, with what the fake
   * adds (its own members win, getters stay live).
   */
  async serve<F extends Endpoints>(fake: Omit<F, keyof Endpoints> & Partial<Endpoints>): Promise<F> {
    await this.listen();
    const handle: Endpoints = { wsUrl: this.url('ws'), restUrl: this.url('http'), port: this.port, close: () => this.close() };
    return Object.defineProperties(handle, Object.getOwnPropertyDescriptors(fake)) as F;
  }

  /** The next `count` requests are held open unanswered (see `hold`). */
  holdNext(count: number): void {
    this.holdCount += count;
  }

  /** For a request: true when it is to be held open unanswered (holdNext). */
  hold(res: http.ServerResponse): boolean {
    if (this.holdCount <= 0) return false;
    this.holdCount--;
    this.held.add(res);
    res.on('close', () => this.held.delete(res));
    return true;
  }

  resetHolds(): void {
    this.holdCount = 0;
  }

  /** Connection refused for `ms`: stops listening, drops what is open, listens again on the same port. */
  async closePortFor(ms: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    this.reopenTimer = setTimeout(() => {
      if (!this.closed) void this.listen(this.port);
    }, ms);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    for (const connection of this.connections) connection.ws.terminate();
    this.wss?.close();
    for (const res of this.held) res.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The PollFaults of a polled fake over its server; the fake asks `down` and `rateLimited` for each request. */
export function pollFaults(server: FeedServer, stats: { requests: number; stalled: number; refused: number }) {
  const forced = new Forced429<number | undefined>();
  let outageUntil = 0;
  const switches: PollFaults = {
    force429({ retryAfterSeconds, count = 1 } = {}) {
      forced.arm(retryAfterSeconds, count);
    },
    async outage(ms, { mode = 'status' } = {}) {
      if (mode === 'status') {
        outageUntil = Date.now() + ms;
        return;
      }
      stats.refused++;
      await server.closePortFor(ms);
    },
    stall(count = 1) {
      server.holdNext(count);
    },
  };
  return {
    switches,
    /** Counts the request; false when it is to be held open unanswered (stall). */
    admit(res: http.ServerResponse): boolean {
      stats.requests++;
      if (!server.hold(res)) return true;
      stats.stalled++;
      return false;
    },
    /** In a 'status' outage: answer the provider's 5xx. */
    down: (now: number) => now < outageUntil,
    /** The 429 to answer this request with, if force429 asked for one. */
    rateLimited: () => forced.take(),
    reset() {
      forced.clear();
      outageUntil = 0;
      server.resetHolds();
    },
  };
}

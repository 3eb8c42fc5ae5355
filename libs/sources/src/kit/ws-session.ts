import WebSocket from 'ws';

/** Counters every streaming source reports; the session and the reconnect loop keep them. */
export interface ConnectionStats {
  /** Sockets opened. */
  connections: number;
  /** Each time the stream was live again: why the previous connection ended and how long none was live. */
  reconnects: { reason: string; downMs: number; backoffMs: number }[];
  staleTerminations: number;
}

/** How one session ended. `reason` is the kit's (below) or one a provider gave to `end()`. */
export interface SessionEnd {
  /** `aborted`, `closed`, `error`, `stale`, `handshake-timeout`, `max-age` or the provider's own. */
  reason: string;
  detail: string;
  /** It was live, delivered something and stayed up `healthyMs`: the reconnect backoff starts over. */
  healthy: boolean;
}

/** What a provider can do with its open session. */
export interface Session {
  send(text: string): void;
  /** The provider's handshake is done and data flows: the outage (if any) ends now. Returns that instant. */
  live(): number;
  /** The provider's data (not just the socket) arrives: needed for the connection to count as healthy. */
  delivered(): void;
  /** Close politely with this reason; the first reason given wins. */
  end(reason: string, detail: string): void;
}

export interface SessionOptions {
  url: string;
  signal: AbortSignal;
  stats: ConnectionStats;
  /** No frame, ping or pong for this long: the connection is dead whatever TCP says; it is terminated. */
  staleMs: number;
  /** Live and delivering at least this long: a healthy connection (see SessionEnd.healthy). */
  healthyMs: number;
  maxPayload: number;
  /** The client pings this often, for servers that may be silent for hours; absent: the server pings. */
  pingIntervalMs?: number;
  /** Not `live()` this long after the socket was created: terminated. Absent: ws's own 10 s open handshake only. */
  handshakeTimeoutMs?: number;
  /** Closed (reason `max-age`) this long after opening, ahead of a server's own connection age limit. */
  maxAgeMs?: number;
  /** Passed by the reconnect loop: called by `live()`. */
  onLive?(at: number): void;
  onOpen(session: Session): void;
  onMessage(text: string, bytes: number, session: Session): void;
  onPing?(): void;
  /** The socket is gone: flush what is buffered. */
  onClose?(): void;
}

// A polite close gets this long to be answered before the socket is cut: a server that never answers
// must not hold the reconnect up.
const CLOSE_GRACE_MS = 1000;
// ws's limit for the TCP + HTTP upgrade; the provider's own handshake has handshakeTimeoutMs.
const OPEN_HANDSHAKE_MS = 10_000;

/** One WebSocket connection, from creation to close: resolves how it ended. Never rejects. */
export function openSession(options: SessionOptions): Promise<SessionEnd> {
  return new Promise<SessionEnd>((resolve) => {
    let reason = 'closed';
    let detail = '';
    let delivered = false;
    let liveAt: number | undefined;
    const createdAt = Date.now();
    let lastActivity = createdAt;
    let maxAgeTimer: NodeJS.Timeout | undefined;
    let ws: WebSocket;
    try {
      // autoPong: ws answers server pings with their payload, as Binance requires.
      ws = new WebSocket(options.url, { handshakeTimeout: OPEN_HANDSHAKE_MS, maxPayload: options.maxPayload, perMessageDeflate: false, autoPong: true });
    } catch (error) {
      resolve({ reason: 'error', detail: (error as Error).message, healthy: false });
      return;
    }
    const explain = (why: string, text: string) => {
      if (reason === 'closed' || reason === 'error') {
        reason = why;
        detail = text;
      }
    };
    const session: Session = {
      send: (text) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      },
      live: () => {
        liveAt = Date.now();
        options.onLive?.(liveAt);
        return liveAt;
      },
      delivered: () => {
        delivered = true;
      },
      end: (why, text) => {
        explain(why, text);
        ws.close(1000);
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      },
    };
    // Once cut, the watchdog has said its piece: a busy loop may deliver the close event late, and it
    // must not count the same dead connection twice.
    const cut = () => {
      clearInterval(watchdog);
      ws.terminate();
    };
    const onAbort = () => session.end('aborted', 'stopped');
    options.signal.addEventListener('abort', onAbort, { once: true });
    const watchdog = setInterval(
      () => {
        if (ws.readyState === WebSocket.CLOSED) return;
        const silentMs = Date.now() - lastActivity;
        if (silentMs > options.staleMs) {
          explain('stale', `no frame, ping or pong for ${silentMs} ms`);
          options.stats.staleTerminations++;
          cut();
        } else if (options.handshakeTimeoutMs !== undefined && liveAt === undefined && Date.now() - createdAt > options.handshakeTimeoutMs) {
          explain('handshake-timeout', `not live within ${options.handshakeTimeoutMs} ms`);
          cut();
        }
      },
      // A quarter of the stale limit: a dead link is cut at most 25 % late; 50 ms..1 s keeps it cheap.
      Math.max(50, Math.min(1000, Math.floor(options.staleMs / 4))),
    );
    const pinger =
      options.pingIntervalMs === undefined
        ? undefined
        : setInterval(() => {
            if (ws.readyState === WebSocket.OPEN) ws.ping();
          }, options.pingIntervalMs);

    ws.on('open', () => {
      lastActivity = Date.now();
      options.stats.connections++;
      if (options.maxAgeMs !== undefined) maxAgeTimer = setTimeout(() => session.end('max-age', `open for ${options.maxAgeMs} ms`), options.maxAgeMs);
      options.onOpen(session);
    });
    ws.on('ping', () => {
      lastActivity = Date.now();
      options.onPing?.();
    });
    ws.on('pong', () => {
      lastActivity = Date.now();
    });
    ws.on('message', (data: WebSocket.RawData) => {
      lastActivity = Date.now();
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      options.onMessage(buffer.toString('utf8'), buffer.length, session);
    });
    ws.on('error', (error) => {
      if (reason === 'closed') reason = 'error';
      detail ||= error.message;
    });
    ws.on('close', (code, why) => {
      clearInterval(watchdog);
      if (pinger) clearInterval(pinger);
      if (maxAgeTimer) clearTimeout(maxAgeTimer);
      options.signal.removeEventListener('abort', onAbort);
      options.onClose?.();
      const healthy = liveAt !== undefined && delivered && Date.now() - liveAt >= options.healthyMs;
      resolve({ reason, detail: detail || `close ${code}${why.length ? ` ${why.toString()}` : ''}`, healthy });
    });
  });
}

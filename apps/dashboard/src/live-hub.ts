import type { ServerResponse } from 'node:http';
import { LiveUpdateSchema, type LiveCandle } from '@tickvault/schema';

export interface StreamFilter {
  /** `source:symbol` labels; a candle is sent when its series is one of them. */
  series: ReadonlySet<string>;
  timeframe: string;
}

export interface HubLimits {
  /** Events a client may have waiting while its socket is full; beyond it the oldest are dropped. */
  maxQueuedEvents: number;
  /** A client whose socket has not drained for this long is disconnected. */
  stallTimeoutMs: number;
  maxClients: number;
}

export interface HubStats {
  clients: number;
  /** The largest number of events any one client has waiting in the dashboard. */
  maxQueuedEvents: number;
  /** The largest number of bytes any one client's socket holds in Node's write buffer. */
  maxBufferedBytes: number;
  droppedEvents: number;
  stalledDisconnects: number;
  updatesReceived: number;
  invalidUpdates: number;
}

/**
 * One Server-Sent Events client. Writes go straight to the socket while it keeps up; once the socket
 * is full (write returns false) events wait in a bounded queue until it drains. A full queue drops its
 * oldest event and counts it: the writer's commits never wait for a reader, and a reader that never
 * reads costs at most `maxQueuedEvents` events plus one socket buffer.
 */
export class StreamClient {
  private readonly queue: string[] = [];
  private blockedSince: number | null = null;
  private droppedSinceNotice = 0;
  private closed = false;
  dropped = 0;

  constructor(
    private readonly res: ServerResponse,
    readonly filter: StreamFilter,
    private readonly limits: HubLimits,
    private readonly onDropped: (count: number) => void,
  ) {}

  get queuedEvents(): number {
    return this.queue.length;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  send(chunk: string): void {
    if (this.isClosed) return;
    if (this.blockedSince === null) {
      this.write(chunk);
      return;
    }
    this.queue.push(chunk);
    if (this.queue.length > this.limits.maxQueuedEvents) {
      this.queue.shift();
      this.dropped++;
      this.droppedSinceNotice++;
      this.onDropped(1);
    }
  }

  /** A comment line keeps proxies from closing an idle stream. Returns false when the client stalled too long. */
  heartbeat(now: number): boolean {
    if (this.isClosed) return true;
    if (this.blockedSince !== null) return now - this.blockedSince < this.limits.stallTimeoutMs;
    this.write(': heartbeat\n\n');
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.res.off('drain', this.onDrain);
    if (!this.res.destroyed) this.res.end();
  }

  /** For a client that stopped reading: end() would wait for it to read what is buffered. */
  destroy(): void {
    this.close();
    this.res.destroy();
  }

  private write(chunk: string): void {
    if (!this.res.write(chunk)) {
      this.blockedSince = Date.now();
      this.res.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => {
    this.blockedSince = null;
    if (this.isClosed) return;
    if (this.droppedSinceNotice > 0) {
      // Tell the page it missed updates, so it reloads candles from the API instead of showing a gap.
      const dropped = this.droppedSinceNotice;
      this.droppedSinceNotice = 0;
      this.write(`event: dropped\ndata: ${JSON.stringify({ dropped })}\n\n`);
    }
    while (this.blockedSince === null && this.queue.length > 0) this.write(this.queue.shift()!);
  };
}

/**
 * Fans the writer's live updates (one Redis subscription per process) out to the stream clients whose
 * filter matches. Parsing happens once per update, formatting once per matching candle.
 */
export class LiveHub {
  private readonly clients = new Set<StreamClient>();
  private readonly counters = { droppedEvents: 0, stalledDisconnects: 0, updatesReceived: 0, invalidUpdates: 0 };

  constructor(private readonly limits: HubLimits) {}

  get size(): number {
    return this.clients.size;
  }

  /** Null when the hub is full. The caller removes the client when its request closes. */
  add(res: ServerResponse, filter: StreamFilter): StreamClient | null {
    if (this.clients.size >= this.limits.maxClients) return null;
    const client = new StreamClient(res, filter, this.limits, (n) => (this.counters.droppedEvents += n));
    this.clients.add(client);
    return client;
  }

  remove(client: StreamClient): void {
    this.clients.delete(client);
    client.close();
  }

  /** A raw message from the live channel. Anything that is not a valid update is counted and ignored. */
  publish(message: string): void {
    this.counters.updatesReceived++;
    let candles: LiveCandle[];
    try {
      const parsed = LiveUpdateSchema.safeParse(JSON.parse(message));
      if (!parsed.success) throw parsed.error;
      candles = parsed.data.candles;
    } catch {
      this.counters.invalidUpdates++;
      return;
    }
    if (this.clients.size === 0) return;
    const formatted = new Map<LiveCandle, string>();
    for (const client of this.clients) {
      for (const candle of candles) {
        if (candle.timeframe !== client.filter.timeframe || !client.filter.series.has(`${candle.source}:${candle.symbol}`)) continue;
        let chunk = formatted.get(candle);
        if (chunk === undefined) {
          chunk = `event: candle\ndata: ${JSON.stringify(candle)}\n\n`;
          formatted.set(candle, chunk);
        }
        client.send(chunk);
      }
    }
  }

  /** Heartbeats every client and disconnects the ones that stalled too long. */
  tick(now = Date.now()): void {
    for (const client of this.clients) {
      if (client.heartbeat(now)) continue;
      this.counters.stalledDisconnects++;
      this.clients.delete(client);
      client.destroy();
    }
  }

  stats(): HubStats {
    let maxQueuedEvents = 0;
    let maxBufferedBytes = 0;
    for (const client of this.clients) {
      maxQueuedEvents = Math.max(maxQueuedEvents, client.queuedEvents);
      maxBufferedBytes = Math.max(maxBufferedBytes, client.bufferedBytes);
    }
    return { clients: this.clients.size, maxQueuedEvents, maxBufferedBytes, ...this.counters };
  }

  closeAll(): void {
    for (const client of this.clients) client.close();
    this.clients.clear();
  }
}

import http from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * A minimal Server-Sent Events reader for specs: keeps every event it receives, in order.
 * (Node 20 has no EventSource, and the specs want to see comments and custom events too.)
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  status: number | undefined;
  private request: http.ClientRequest;
  private buffer = '';
  readonly opened: Promise<number>;

  constructor(url: string, headers: Record<string, string> = {}) {
    let resolveOpened!: (status: number) => void;
    let rejectOpened!: (error: Error) => void;
    this.opened = new Promise((resolve, reject) => {
      resolveOpened = resolve;
      rejectOpened = reject;
    });
    this.request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      this.status = res.statusCode;
      resolveOpened(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.feed(chunk));
      res.on('error', () => {});
    });
    this.request.on('error', (error) => rejectOpened(error));
  }

  candles<T = Record<string, unknown>>(): T[] {
    return this.events.filter((e) => e.event === 'candle').map((e) => JSON.parse(e.data) as T);
  }

  async waitFor(predicate: (client: SseClient) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) throw new Error(`SSE: timed out waiting for ${what}; got ${this.events.length} events`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.request.destroy();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      let hasField = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments++;
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        if (field === 'data') data.push(value);
        if (field === 'event' || field === 'data') hasField = true;
      }
      if (hasField) this.events.push({ event, data: data.join('\n') });
    }
  }
}

export function basicAuth(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

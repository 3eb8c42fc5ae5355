import type { ControlMessage } from './frames.js';

/** The symbols of one `stream()` call and which of them the plan lets us stream trades for. */
export interface Plan {
  symbols: readonly string[];
  byAlpaca: ReadonlyMap<string, string>;
  /** Refused by the symbol limit (405) during this `stream()` call: bars only. */
  limited: Set<string>;
}

export interface HandshakeEvents {
  send(message: object): void;
  /** Authenticated and subscribed: data flows. */
  live(): void;
  /** Over the plan's symbol limit: these symbols keep their bars but get no trades. */
  limit(symbols: readonly string[], why: string): void;
  end(reason: 'auth-failed' | 'connection-limit' | 'error', detail: string): void;
  warn(obj: object, msg: string): void;
}

export interface HandshakeStats {
  /** Error messages from the stream by code. */
  serverErrors: Record<string, number>;
  authFailures: number;
  connectionLimitErrors: number;
}

/**
 * The control messages of one Alpaca connection: welcome → auth → bars subscribed → trades subscribed
 * (at once, or one by one after a 405) → live.
 */
export class AlpacaHandshake {
  private step: 'welcome' | 'auth' | 'bars' | 'trades' | 'trades-one' | 'live' = 'welcome';
  private wanted: string[] = [];
  private queue: string[] = [];
  private asking: string | undefined;

  constructor(
    private readonly plan: Plan,
    private readonly credentials: { keyId: string; secretKey: string },
    private readonly stats: HandshakeStats,
    private readonly events: HandshakeEvents,
  ) {}

  onControl(message: ControlMessage): void {
    const { events, plan } = this;
    if (message.kind === 'success') {
      if (message.msg === 'connected' && this.step === 'welcome') {
        this.step = 'auth';
        events.send({ action: 'auth', key: this.credentials.keyId, secret: this.credentials.secretKey });
      } else if (message.msg === 'authenticated' && this.step === 'auth') {
        this.step = 'bars';
        events.send({ action: 'subscribe', bars: [...plan.symbols], updatedBars: [...plan.symbols] });
      }
      return;
    }
    if (message.kind === 'subscription') {
      if (this.step === 'bars') this.subscribeTrades();
      else if (this.step === 'trades') {
        const confirmed = new Set(message.trades);
        const unconfirmed = this.wanted.filter((s) => !confirmed.has(s));
        if (unconfirmed.length > 0) events.limit(unconfirmed, 'trades subscription not confirmed by Alpaca');
        this.goLive();
      } else if (this.step === 'trades-one') this.nextOne();
      return;
    }
    const code = message.code ?? 0;
    this.stats.serverErrors[String(code)] = (this.stats.serverErrors[String(code)] ?? 0) + 1;
    const text = `${message.code ?? '?'} ${message.msg}`;
    if (code === 401 || code === 402 || code === 409) {
      this.stats.authFailures++;
      events.end('auth-failed', text);
    } else if (code === 406) {
      this.stats.connectionLimitErrors++;
      events.end('connection-limit', text);
    } else if (code === 405 && this.step === 'trades') {
      // Over the plan's symbol limit (free: 30 for trades): find out which fit, one at a time.
      this.step = 'trades-one';
      this.queue = [...this.wanted];
      this.nextOne();
    } else if (code === 405 && this.step === 'trades-one') {
      events.limit([this.asking!, ...this.queue], `Alpaca error ${text}`);
      this.queue = [];
      this.goLive();
    } else if (code === 404) {
      events.end('error', text); // auth timeout: the server closes
    } else {
      events.warn({ code: message.code, msg: message.msg, step: this.step }, 'Alpaca stream error message');
    }
  }

  private goLive(): void {
    this.step = 'live';
    this.events.live();
  }

  private subscribeTrades(): void {
    this.wanted = this.plan.symbols.filter((s) => !this.plan.limited.has(s));
    if (this.wanted.length === 0) return this.goLive();
    this.step = 'trades';
    this.events.send({ action: 'subscribe', trades: this.wanted });
  }

  private nextOne(): void {
    this.asking = this.queue.shift();
    if (this.asking === undefined) return this.goLive();
    this.events.send({ action: 'subscribe', trades: [this.asking] });
  }
}

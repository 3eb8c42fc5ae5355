/**
 * The symbols one stream subscribes to, keyed by the provider's name for each. Names are kept and
 * looked up in upper case: frames may spell them in either case.
 */
export class Subscribed {
  private readonly byName = new Map<string, string>();

  constructor(symbols: readonly string[], toName: (symbol: string) => string) {
    for (const symbol of symbols) this.byName.set(toName(symbol), symbol);
  }

  get size(): number {
    return this.byName.size;
  }

  /** The tickvault symbol for a provider name this stream subscribed to, else undefined. */
  lookup(name: string): string | undefined {
    return this.byName.get(name.toUpperCase());
  }

  /** Drops a name the provider refused, so the others can be subscribed without it; returns its symbol. */
  remove(name: string): string | undefined {
    const symbol = this.lookup(name);
    this.byName.delete(name.toUpperCase());
    return symbol;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  symbols(): string[] {
    return [...this.byName.values()];
  }
}

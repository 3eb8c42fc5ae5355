import { SYMBOL_PATTERNS } from '@tickvault/schema';

export class CoinbaseSymbolError extends Error {}

/** `BTC/USD` → `BTC-USD`. Throws for anything that is not a normalized crypto symbol. */
export function toCoinbaseProduct(symbol: string): string {
  if (!SYMBOL_PATTERNS.crypto.test(symbol)) {
    throw new CoinbaseSymbolError(`"${symbol}" is not a crypto symbol in BASE/QUOTE form`);
  }
  return symbol.replace('/', '-');
}

/** `BTC-USD` → `BTC/USD` (case-insensitive); null for anything that is not `BASE-QUOTE`. */
export function fromCoinbaseProduct(productId: string): string | null {
  const parts = productId.toUpperCase().split('-');
  if (parts.length !== 2) return null;
  const symbol = `${parts[0]}/${parts[1]}`;
  return SYMBOL_PATTERNS.crypto.test(symbol) ? symbol : null;
}

/**
 * The products one stream subscribes to, keyed by Coinbase's id. A product Coinbase refuses
 * (`... is not a valid product`) is removed, so the others can be subscribed without it.
 */
export class SubscribedProducts {
  private readonly byProduct = new Map<string, string>();

  constructor(symbols: readonly string[]) {
    for (const symbol of symbols) this.byProduct.set(toCoinbaseProduct(symbol), symbol);
  }

  get size(): number {
    return this.byProduct.size;
  }

  /** The tickvault symbol for a product this stream subscribed to, else undefined. */
  lookup(productId: string): string | undefined {
    return this.byProduct.get(productId.toUpperCase());
  }

  remove(productId: string): string | undefined {
    const symbol = this.lookup(productId);
    this.byProduct.delete(productId.toUpperCase());
    return symbol;
  }

  productIds(): string[] {
    return [...this.byProduct.keys()];
  }

  symbols(): string[] {
    return [...this.byProduct.values()];
  }
}

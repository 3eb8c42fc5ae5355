import { SYMBOL_PATTERNS } from '@tickvault/schema';
import { Subscribed } from '../kit/subscribed.js';

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
export class SubscribedProducts extends Subscribed {
  constructor(symbols: readonly string[]) {
    super(symbols, toCoinbaseProduct);
  }

  productIds(): string[] {
    return this.names();
  }
}

import { SYMBOL_PATTERNS } from '@tickvault/schema';

export class AlpacaSymbolError extends Error {}

/**
 * `AAPL` → `AAPL`, `BRK.B` → `BRK.B`: Alpaca names US equities by ticker with a dot for share
 * classes, which is tickvault's normalized stock form, so the name goes out unchanged. Throws for
 * anything that is not a normalized stock symbol (a crypto pair, lowercase, a Yahoo-style `BRK-B`
 * is allowed by the pattern and passed through: Alpaca answers it with no data).
 */
export function toAlpacaSymbol(symbol: string): string {
  if (!SYMBOL_PATTERNS.stock.test(symbol)) {
    throw new AlpacaSymbolError(`"${symbol}" is not a stock ticker (AAPL, BRK.B)`);
  }
  return symbol;
}

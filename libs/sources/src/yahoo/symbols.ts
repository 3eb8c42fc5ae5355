import { SYMBOL_PATTERNS } from '@tickvault/schema';

export class YahooSymbolError extends Error {}

/** `BRK.B` → `BRK-B`: Yahoo writes share classes with a dash where tickvault (and the SIP) use a dot. */
export function toYahooSymbol(symbol: string): string {
  if (!SYMBOL_PATTERNS.stock.test(symbol)) {
    throw new YahooSymbolError(`"${symbol}" is not a stock symbol in tickvault's form (AAPL, BRK.B)`);
  }
  return symbol.replaceAll('.', '-');
}

/**
 * `BRK-B` → `BRK.B`; null for Yahoo names that are no stock symbol of ours (`^GSPC`, `EURUSD=X`).
 * Responses are attributed to the symbol that was asked for, so this only names things in logs.
 */
export function fromYahooSymbol(yahooSymbol: string): string | null {
  const symbol = yahooSymbol.toUpperCase().replaceAll('-', '.');
  return SYMBOL_PATTERNS.stock.test(symbol) ? symbol : null;
}

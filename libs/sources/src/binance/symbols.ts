import { SYMBOL_PATTERNS } from '@tickvault/schema';
import { Subscribed } from '../kit/subscribed.js';

/**
 * Quote assets Binance spot lists symbols against. Binance symbols have no separator
 * (`BTCUSDT`), so an inbound symbol is split at the longest quote asset it ends with.
 * Outbound names never need this list: they come from the configured `BASE/QUOTE`.
 */
export const BINANCE_QUOTE_ASSETS: readonly string[] = [
  // Stablecoins first only for readability: the split picks the longest match, whatever the order.
  'USDT', 'USDC', 'FDUSD', 'BUSD', 'TUSD', 'USDP', 'USD1', 'DAI', 'PAX', 'UST', 'USDS', 'AEUR', 'EURI', 'XUSD',
  'BTC', 'ETH', 'BNB', 'XRP', 'TRX', 'DOGE', 'SOL', 'DOT',
  'EUR', 'GBP', 'TRY', 'BRL', 'ARS', 'AUD', 'JPY', 'MXN', 'PLN', 'RON', 'ZAR', 'UAH', 'IDR', 'IDRT', 'BIDR', 'CZK', 'COP', 'NGN', 'RUB', 'BKRW', 'BVND',
];

const BY_LENGTH = [...new Set(BINANCE_QUOTE_ASSETS)].sort((a, b) => b.length - a.length);

export class BinanceSymbolError extends Error {}

/** `BTC/USDT` → `BTCUSDT`. Throws for anything that is not a normalized crypto symbol. */
export function toBinanceSymbol(symbol: string): string {
  if (!SYMBOL_PATTERNS.crypto.test(symbol)) {
    throw new BinanceSymbolError(`"${symbol}" is not a crypto symbol in BASE/QUOTE form`);
  }
  return symbol.replace('/', '');
}

/** `BTC/USDT` → `btcusdt@trade`: stream names are lowercase. */
export function toTradeStream(symbol: string): string {
  return `${toBinanceSymbol(symbol).toLowerCase()}@trade`;
}

/**
 * `BTCUSDT` → `BTC/USDT` by the longest known quote asset it ends with; null when none fits
 * (or nothing would be left for the base). Case-insensitive, so stream names map too.
 */
export function fromBinanceSymbol(binanceSymbol: string): string | null {
  const upper = binanceSymbol.toUpperCase();
  if (!/^[A-Z0-9]{2,30}$/.test(upper)) return null;
  for (const quote of BY_LENGTH) {
    if (upper.length > quote.length && upper.endsWith(quote)) {
      const symbol = `${upper.slice(0, -quote.length)}/${quote}`;
      return SYMBOL_PATTERNS.crypto.test(symbol) ? symbol : null;
    }
  }
  return null;
}

/**
 * The symbols one stream subscribes to, keyed by Binance's name. Inbound frames are looked up
 * here first (exact, whatever the quote list says); only frames for other symbols are split
 * by quote asset, to name them in the `unknown_symbol` rejection.
 */
export class SubscribedSymbols extends Subscribed {
  constructor(symbols: readonly string[]) {
    super(symbols, toBinanceSymbol);
  }

  streams(): string[] {
    return this.symbols().map(toTradeStream);
  }
}

import type { StreamContext } from '../source.js';

export interface AcceptOptions {
  /** Appended to the rejection's detail (the setting the symbol came from). */
  note?: string;
  /** Counted in the provider's stats where it counts rejections. */
  stats?: { rejected: number };
}

/**
 * The configured symbols a provider can map, in their order and each with its provider name; a symbol
 * it cannot map is refused as `invalid_symbol` rather than failing the whole stream. Errors other than
 * the provider's symbol error are bugs and are thrown.
 */
export function acceptedSymbols<T>(
  ctx: Pick<StreamContext, 'symbols' | 'reject'>,
  map: (symbol: string) => T,
  isSymbolError: (error: unknown) => boolean,
  { note = '', stats }: AcceptOptions = {},
): Array<[symbol: string, mapped: T]> {
  const accepted: Array<[string, T]> = [];
  for (const symbol of ctx.symbols) {
    try {
      accepted.push([symbol, map(symbol)]);
    } catch (error) {
      if (!isSymbolError(error)) throw error;
      if (stats) stats.rejected++;
      ctx.reject({ symbol, reason: 'invalid_symbol', detail: `${(error as Error).message}${note}`, sample: symbol });
    }
  }
  return accepted;
}

import type { MarketSource, SourceOptions } from '../source.js';

/**
 * The identity of a source that catches up by itself when `stream` runs again (`resumesItself`):
 * every provider here is one, so the runner never replays for them.
 */
export function resumingSource(id: string, options: Pick<SourceOptions, 'assetClass'>): Pick<MarketSource, 'id' | 'assetClass' | 'resumesItself'> {
  return { id, assetClass: options.assetClass, resumesItself: true };
}

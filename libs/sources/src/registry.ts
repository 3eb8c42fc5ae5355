import type { AssetClass } from '@tickvault/schema';
import type { MarketSource, SourceDefinition, SourceOptions, SourceSettings } from './source.js';
import { createSimSource } from './sim/sim-source.js';
import { createBinanceSource } from './binance/binance-source.js';
import { createCoinbaseSource } from './coinbase/coinbase-source.js';
import { createAlpacaSource } from './alpaca/alpaca-source.js';
import { createYahooSource } from './yahoo/yahoo-source.js';
import { createFredSource } from './fred/fred-source.js';

/** Every source id tickvault knows. A provider is added here and nowhere else. */
export const SOURCES: readonly SourceDefinition[] = [
  { id: 'sim', assetClasses: ['crypto', 'stock', 'macro'], create: createSimSource },
  { id: 'binance', assetClasses: ['crypto'], create: (options) => createBinanceSource(options) },
  { id: 'coinbase', assetClasses: ['crypto'], create: (options) => createCoinbaseSource(options) },
  { id: 'alpaca', assetClasses: ['stock'], create: (options) => createAlpacaSource(options) },
  { id: 'yahoo', assetClasses: ['stock'], create: (options) => createYahooSource(options) },
  { id: 'fred', assetClasses: ['macro'], create: (options) => createFredSource(options) },
];

export class UnknownSourceError extends Error {}

export function createSources(
  ids: readonly string[],
  assetClass: AssetClass,
  seed: number,
  variable: string,
  settings: SourceSettings = {},
  limiter?: SourceOptions['limiter'],
): MarketSource[] {
  return ids.map((id) => {
    const definition = SOURCES.find((s) => s.id === id);
    if (!definition) {
      throw new UnknownSourceError(`${variable}: unknown source "${id}" (known: ${SOURCES.map((s) => s.id).join(', ')})`);
    }
    if (!definition.assetClasses.includes(assetClass)) {
      throw new UnknownSourceError(`${variable}: source "${id}" does not provide ${assetClass} data`);
    }
    try {
      return definition.create({ assetClass, seed, settings, ...(limiter ? { limiter } : {}) });
    } catch (error) {
      // A provider refusing its settings (no key, malformed symbol) is a configuration error too.
      throw new UnknownSourceError((error as Error).message);
    }
  });
}

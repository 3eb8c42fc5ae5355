import type { AssetClass } from '@tickvault/schema';
import type { MarketSource, SourceDefinition, SourceSettings } from './source.js';
import { createSimSource } from './sim/sim-source.js';
import { createBinanceSource } from './binance/binance-source.js';

/** Every source id tickvault knows. A provider is added here and nowhere else. */
export const SOURCES: readonly SourceDefinition[] = [
  { id: 'sim', assetClasses: ['crypto', 'stock', 'macro'], create: createSimSource },
  { id: 'binance', assetClasses: ['crypto'], create: (options) => createBinanceSource(options) },
];

export class UnknownSourceError extends Error {}

export function createSources(
  ids: readonly string[],
  assetClass: AssetClass,
  seed: number,
  variable: string,
  settings: SourceSettings = {},
): MarketSource[] {
  return ids.map((id) => {
    const definition = SOURCES.find((s) => s.id === id);
    if (!definition) {
      throw new UnknownSourceError(`${variable}: unknown source "${id}" (known: ${SOURCES.map((s) => s.id).join(', ')})`);
    }
    if (!definition.assetClasses.includes(assetClass)) {
      throw new UnknownSourceError(`${variable}: source "${id}" does not provide ${assetClass} data`);
    }
    return definition.create({ assetClass, seed, settings });
  });
}

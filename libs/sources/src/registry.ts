import type { AssetClass } from '@tickvault/schema';
import type { MarketSource, SourceDefinition } from './source.js';
import { createSimSource } from './sim/sim-source.js';

/** Every source id tickvault knows. A provider is added here and nowhere else. */
export const SOURCES: readonly SourceDefinition[] = [
  { id: 'sim', assetClasses: ['crypto', 'stock', 'macro'], create: createSimSource },
];

export class UnknownSourceError extends Error {}

export function createSources(ids: readonly string[], assetClass: AssetClass, seed: number, variable: string): MarketSource[] {
  return ids.map((id) => {
    const definition = SOURCES.find((s) => s.id === id);
    if (!definition) {
      throw new UnknownSourceError(`${variable}: unknown source "${id}" (known: ${SOURCES.map((s) => s.id).join(', ')})`);
    }
    if (!definition.assetClasses.includes(assetClass)) {
      throw new UnknownSourceError(`${variable}: source "${id}" does not provide ${assetClass} data`);
    }
    return definition.create({ assetClass, seed });
  });
}

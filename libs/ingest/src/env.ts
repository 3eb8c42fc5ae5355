import { SERVICE_ENV, type EnvName } from '@tickvault/config';
import type { AssetClass } from '@tickvault/schema';

export const INGEST_COMMON_ENV = [
  ...SERVICE_ENV,
  'SIM_SEED', 'INGEST_BATCH_MAX_TICKS', 'INGEST_FLUSH_MS', 'INGEST_BUFFER_MAX_TICKS', 'TICK_MAX_FUTURE_SECONDS',
] as const satisfies readonly EnvName[];

/** Which variables name the sources and symbols of each asset class. */
export const ASSET_CLASS_ENV = {
  crypto: { sources: 'CRYPTO_SOURCES', symbols: 'CRYPTO_SYMBOLS' },
  stock: { sources: 'STOCK_SOURCES', symbols: 'STOCK_SYMBOLS' },
  macro: { sources: 'MACRO_SOURCES', symbols: 'MACRO_SERIES' },
} as const satisfies Record<AssetClass, { sources: EnvName; symbols: EnvName }>;

export const DEFAULT_HEALTH_PORTS: Record<AssetClass, number> = { crypto: 9102, stock: 9103, macro: 9104 };

import type { AssetClass } from '@tickvault/schema';
import type { EnvName } from './env.js';

/** What every long-running service reads. */
export const SERVICE_ENV = [
  'REDIS_URL', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX', 'LOG_LEVEL', 'LOG_FORMAT', 'NODE_ENV',
  'HEALTH_HOST', 'HEALTH_PORT', 'STARTUP_WAIT_SECONDS', 'SHUTDOWN_TIMEOUT_SECONDS',
] as const satisfies readonly EnvName[];

export const WRITER_ENV = [
  ...SERVICE_ENV,
  'DATABASE_URL',
  'WRITER_CONCURRENCY', 'WRITER_BATCH_MAX_TICKS', 'WRITER_BATCH_WAIT_MS', 'WRITER_FLUSHES_IN_FLIGHT', 'WRITER_DB_POOL', 'WRITER_WRITE_PATH',
  'WRITER_LOCK_DURATION_MS', 'WRITER_FLUSH_DEADLINE_SECONDS', 'DATA_ENVIRONMENT', 'TICK_QUEUE_SHARDS', 'WRITER_SHARDS', 'TICK_RETENTION_DAYS', 'MACRO_TICK_RETENTION_DAYS', 'CANDLE_RETENTION', 'TICK_MAX_FUTURE_SECONDS',
] as const satisfies readonly EnvName[];

export const INGEST_COMMON_ENV = [
  ...SERVICE_ENV,
  'DATA_ENVIRONMENT', 'TICK_QUEUE_SHARDS', 'SIM_SEED', 'INGEST_BATCH_MAX_TICKS', 'INGEST_FLUSH_MS', 'INGEST_BUFFER_MAX_TICKS', 'INGEST_LEASE_TTL_MS', 'TICK_MAX_FUTURE_SECONDS',
] as const satisfies readonly EnvName[];

/** Which variables name the sources and symbols of each asset class. */
export const ASSET_CLASS_ENV = {
  crypto: { sources: 'CRYPTO_SOURCES', symbols: 'CRYPTO_SYMBOLS' },
  stock: { sources: 'STOCK_SOURCES', symbols: 'STOCK_SYMBOLS' },
  macro: { sources: 'MACRO_SOURCES', symbols: 'MACRO_SERIES' },
} as const satisfies Record<AssetClass, { sources: EnvName; symbols: EnvName }>;

/** Settings of the providers an asset class can use, read only by that ingest service. */
export const SOURCE_SETTINGS_ENV = {
  crypto: ['BINANCE_WS_URL', 'BINANCE_REST_URL', 'BINANCE_STALE_SECONDS', 'BINANCE_WEIGHT_PER_MINUTE', 'COINBASE_WS_URL', 'COINBASE_REST_URL'],
  stock: ['ALPACA_WS_URL', 'ALPACA_REST_URL', 'ALPACA_FEED', 'ALPACA_KEY_ID', 'ALPACA_SECRET_KEY', 'YAHOO_CHART_URL', 'YAHOO_POLL_SECONDS'],
  macro: ['FRED_API_URL', 'FRED_GRAPH_URL', 'FRED_API_KEY', 'FRED_POLL_SECONDS'],
} as const satisfies Record<AssetClass, readonly EnvName[]>;

export function ingestEnv(assetClass: AssetClass): readonly EnvName[] {
  return [...INGEST_COMMON_ENV, ASSET_CLASS_ENV[assetClass].sources, ASSET_CLASS_ENV[assetClass].symbols, ...SOURCE_SETTINGS_ENV[assetClass]];
}

/** The dashboard reads through its own small pool, knows the configured series, and serves the UI. */
export const DASHBOARD_ENV = [
  ...SERVICE_ENV,
  'DATABASE_URL', 'DASHBOARD_DATABASE_URL', 'DATABASE_READ_URL', 'DATABASE_READ_FALLBACK',
  ...Object.values(ASSET_CLASS_ENV).flatMap((v) => [v.sources, v.symbols]),
  // The key id alone resolves STOCK_SOURCES=auto (see configuredSources); the secret key never reaches
  // the dashboard, the one process facing users.
  'ALPACA_KEY_ID',
  'DASHBOARD_HOST', 'DASHBOARD_PORT', 'DASHBOARD_AUTH', 'DASHBOARD_USER', 'DASHBOARD_PASSWORD', 'DASHBOARD_PASSWORD_FILE', 'DASHBOARD_TOKEN',
  'DASHBOARD_QUEUE_ACTIONS', 'DASHBOARD_NICE', 'LATEST_CACHE_TTL_MS', 'TICK_QUEUE_SHARDS',
] as const satisfies readonly EnvName[];

/** The scheduler reads the database (gaps, health) and knows every configured series. */
export const SCHEDULER_ENV = [
  ...SERVICE_ENV,
  'DATABASE_URL',
  ...Object.values(ASSET_CLASS_ENV).flatMap((v) => [v.sources, v.symbols]),
  // To resolve STOCK_SOURCES=auto as ingest-stock does; not the secret key (see configuredSources).
  'ALPACA_KEY_ID',
  'TICK_RETENTION_DAYS', 'CANDLE_RETENTION',
  'GAP_FILL_CRON', 'HEALTH_CRON', 'HEALTH_MIN_POINTS_PER_HOUR', 'HEALTH_MAX_SILENCE_SECONDS', 'MACRO_REFRESH_DAYS',
] as const satisfies readonly EnvName[];

/**
 * Every long-running service: its TypeScript entry point (development runs it through tsx; the build
 * bundles it into dist/<service>.js, which production runs with plain node), the variables it reads,
 * and its default health port. The CLI, the compose checks and the apps all read this one table.
 */
export const SERVICES = {
  writer: { entry: 'apps/writer/src/main.ts', env: WRITER_ENV, healthPort: 9101 },
  'ingest-crypto': { entry: 'apps/ingest-crypto/src/main.ts', env: ingestEnv('crypto'), healthPort: 9102 },
  'ingest-stock': { entry: 'apps/ingest-stock/src/main.ts', env: ingestEnv('stock'), healthPort: 9103 },
  'ingest-macro': { entry: 'apps/ingest-macro/src/main.ts', env: ingestEnv('macro'), healthPort: 9104 },
  dashboard: { entry: 'apps/dashboard/src/main.ts', env: DASHBOARD_ENV, healthPort: 9105 },
  scheduler: { entry: 'apps/scheduler/src/main.ts', env: SCHEDULER_ENV, healthPort: 9106 },
} as const;
export type ServiceName = keyof typeof SERVICES;

/**
 * The source ids configured for an asset class. STOCK_SOURCES' `auto` (its default) means `alpaca`
 * when ALPACA_KEY_ID is set (a user who has keys wants the real feed), `yahoo` otherwise. The key id
 * alone decides, so every process that lists series (ingest-stock, scheduler, dashboard, CLI) resolves
 * `auto` alike while only ingest-stock holds ALPACA_SECRET_KEY; an id without its secret then stops
 * ingest-stock naming ALPACA_SECRET_KEY instead of quietly falling back to Yahoo.
 */
export function configuredSources(assetClass: AssetClass, config: Readonly<Record<string, unknown>>): string[] {
  const ids = (config[ASSET_CLASS_ENV[assetClass].sources] as string[] | undefined) ?? [];
  const stockDefault = config.ALPACA_KEY_ID ? 'alpaca' : 'yahoo';
  return [...new Set(ids.map((id) => (assetClass === 'stock' && id === 'auto' ? stockDefault : id)))];
}

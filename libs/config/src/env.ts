import { z } from 'zod';
import { bool, candleRetention, int, oneOf, sourceList, symbolList, url } from './parsers.js';

export interface EnvVarSpec<S extends z.ZodType<unknown, string> = z.ZodType<unknown, string>> {
  schema: S;
  /** Used when the variable is unset or empty; a spec without one is required. */
  default?: string;
  doc: string;
  /** Who reads it, for the README table. */
  usedBy: string;
  /** Unset means "not given" (the reader picks a contextual default). */
  optional?: true;
  /** An explicitly empty value is a value (an empty list), not "unset". */
  emptyIsValue?: true;
  /** `url`: mask the password; `value`: never print it. */
  secret?: 'url' | 'value';
}

const spec = <S extends z.ZodType<unknown, string>>(s: EnvVarSpec<S>) => s;

/**
 * Every environment variable tickvault reads, in one place. README's configuration table
 * is checked against this list by a test, so a variable cannot exist without documentation.
 */
export const ENV = {
  DATABASE_URL: spec({
    schema: url(['postgres:', 'postgresql:']),
    default: 'postgres://postgres@127.0.0.1:5432/tickvault',
    doc: 'PostgreSQL connection URL. `migrate` creates the database if it does not exist.',
    usedBy: 'writer, dashboard, tickvault CLI',
    secret: 'url',
  }),
  REDIS_URL: spec({
    schema: url(['redis:', 'rediss:']),
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis connection URL for the queues. Redis must run with `maxmemory-policy noeviction` and AOF.',
    usedBy: 'all services, CLI',
    secret: 'url',
  }),
  QUEUE_PREFIX: spec({
    schema: z.string().regex(/^\{[a-z0-9_-]{1,40}\}$/, 'must be a Redis hash tag such as {tickvault}'),
    default: '{tickvault}',
    doc: 'Prefix of every queue key; a `{hash tag}` so each queue stays in one Redis Cluster slot.',
    usedBy: 'all services, CLI',
  }),
  LOG_LEVEL: spec({
    schema: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'pino log level.',
    usedBy: 'all services',
  }),
  LOG_FORMAT: spec({
    schema: oneOf(['auto', 'json', 'pretty']),
    default: 'auto',
    doc: '`auto`: pretty on a terminal or with NODE_ENV=development, JSON otherwise.',
    usedBy: 'all services',
  }),
  HEALTH_HOST: spec({
    schema: z.string().min(1),
    default: '0.0.0.0',
    doc: 'Address the `/livez` and `/readyz` server binds to.',
    usedBy: 'all services',
  }),
  HEALTH_PORT: spec({
    schema: int(0, 65535),
    optional: true,
    doc: 'Port of `/livez` and `/readyz`. Unset: writer 9101, ingest-crypto 9102, ingest-stock 9103, ingest-macro 9104, dashboard 9105. 0 picks a free port.',
    usedBy: 'all services',
  }),
  STARTUP_WAIT_SECONDS: spec({
    schema: int(0, 3600),
    default: '120',
    doc: 'How long a service waits for Postgres and Redis at startup (exponential backoff, logged) before it exits non-zero.',
    usedBy: 'all services',
  }),
  SHUTDOWN_TIMEOUT_SECONDS: spec({
    schema: int(1, 600),
    default: '25',
    doc: 'Hard limit for a graceful drain on SIGTERM; past it the process exits 1. Keep below the orchestrator grace period (compose: 30 s).',
    usedBy: 'all services',
  }),

  CRYPTO_SOURCES: spec({
    schema: sourceList(),
    default: 'sim',
    doc: 'Comma list of crypto source ids (`sim`, `binance`). Set but empty (`CRYPTO_SOURCES=`) disables crypto ingest.',
    emptyIsValue: true,
    usedBy: 'ingest-crypto, CLI',
  }),
  CRYPTO_SYMBOLS: spec({
    schema: symbolList('crypto', 'BTC/USDT'),
    default: 'BTC/USDT,ETH/USDT,SOL/USDT',
    doc: 'Crypto symbols in `BASE/QUOTE` form.',
    usedBy: 'ingest-crypto, CLI',
  }),
  STOCK_SOURCES: spec({
    schema: sourceList(),
    default: 'sim',
    doc: 'Comma list of stock source ids (`sim`). Set but empty (`STOCK_SOURCES=`) disables stock ingest.',
    emptyIsValue: true,
    usedBy: 'ingest-stock, CLI',
  }),
  STOCK_SYMBOLS: spec({
    schema: symbolList('stock', 'AAPL'),
    default: 'AAPL,MSFT,SPY',
    doc: 'Stock tickers.',
    usedBy: 'ingest-stock, CLI',
  }),
  MACRO_SOURCES: spec({
    schema: sourceList(),
    default: 'sim',
    doc: 'Comma list of macro source ids (`sim`). Set but empty (`MACRO_SOURCES=`) disables macro ingest.',
    emptyIsValue: true,
    usedBy: 'ingest-macro, CLI',
  }),
  MACRO_SERIES: spec({
    schema: symbolList('macro', 'DGS10'),
    default: 'DGS10,DGS2,DEXUSEU',
    doc: 'Macro series ids (FRED style).',
    usedBy: 'ingest-macro, CLI',
  }),
  SIM_SEED: spec({
    schema: int(0, 2 ** 31 - 1),
    default: '42',
    doc: 'Seed of the `sim` source: the same seed gives the same trades at the same instants.',
    usedBy: 'ingest services',
  }),
  BINANCE_WS_URL: spec({
    schema: url(['wss:', 'ws:']),
    default: 'wss://stream.binance.com:9443',
    doc: 'Base URL of the Binance spot WebSocket streams (`binance` source); `wss://data-stream.binance.vision` serves market data only.',
    usedBy: 'ingest-crypto',
  }),
  BINANCE_REST_URL: spec({
    schema: url(['https:', 'http:']),
    default: 'https://api.binance.com',
    doc: 'Base URL of the Binance spot REST API (`binance` source): missed trades after a reconnect, and history.',
    usedBy: 'ingest-crypto',
  }),
  BINANCE_STALE_SECONDS: spec({
    schema: int(5, 3600),
    default: '30',
    doc: 'A Binance stream connection that sends nothing (no trade, no ping) for this long is dropped and reopened, and the missed trades fetched. Binance pings every 20 s.',
    usedBy: 'ingest-crypto',
  }),
  BINANCE_WEIGHT_PER_MINUTE: spec({
    schema: int(10, 100_000),
    default: '6000',
    doc: 'REQUEST_WEIGHT this process may spend per minute on Binance REST calls (Binance allows 6000 per IP; the limiter is per process, so divide it among replicas sharing an IP).',
    usedBy: 'ingest-crypto',
  }),
  INGEST_BATCH_MAX_TICKS: spec({
    schema: int(1, 5000),
    default: '500',
    doc: 'Ticks per queue job. Hundreds per job keep Redis work per tick small (one job per tick is ~10x slower).',
    usedBy: 'ingest services',
  }),
  INGEST_FLUSH_MS: spec({
    schema: int(10, 10000),
    default: '200',
    doc: 'Longest a tick waits in the ingest micro-batch before it is queued.',
    usedBy: 'ingest services',
  }),
  INGEST_BUFFER_MAX_TICKS: spec({
    // At least two of the largest jobs (INGEST_BATCH_MAX_TICKS ≤ 5000), so the bound never drops the job just made.
    schema: int(10_000, 50_000_000),
    default: '500000',
    doc: 'Ticks an ingest service holds while Redis is unreachable; beyond it the oldest are dropped and counted.',
    usedBy: 'ingest services',
  }),

  INGEST_LEASE_TTL_MS: spec({
    schema: int(1000, 600_000),
    default: '15000',
    doc: 'Replicas of an ingest service share symbols through leases of this length in Redis; a dead replica\'s symbols move to the others within about this long, replayed from its last progress.',
    usedBy: 'ingest services',
  }),

  WRITER_CONCURRENCY: spec({
    schema: int(1, 1000),
    default: '32',
    doc: 'Jobs a writer holds at once; their ticks are written together in one transaction.',
    usedBy: 'writer',
  }),
  WRITER_BATCH_MAX_TICKS: spec({
    schema: int(1, 100_000),
    default: '20000',
    doc: 'A flush starts as soon as this many ticks are waiting.',
    usedBy: 'writer',
  }),
  WRITER_BATCH_WAIT_MS: spec({
    schema: int(0, 5000),
    default: '40',
    doc: 'Longest the first job of a batch waits for others before the flush starts.',
    usedBy: 'writer',
  }),
  WRITER_FLUSHES_IN_FLIGHT: spec({
    schema: int(1, 8),
    default: '2',
    doc: 'Batches a writer writes at once. Two overlap validation in Node with the database\'s work; each holds one connection.',
    usedBy: 'writer',
  }),
  WRITER_DB_POOL: spec({
    schema: int(2, 100),
    default: '4',
    doc: 'Postgres connections per writer process. Budget: replicas × this + readers ≤ max_connections − reserve.',
    usedBy: 'writer',
  }),
  WRITER_LOCK_DURATION_MS: spec({
    schema: int(1000, 600_000),
    default: '30000',
    doc: 'BullMQ job lock. A killed writer\'s jobs return to the queue after about this long.',
    usedBy: 'writer',
  }),
  TICK_RETENTION_DAYS: spec({
    schema: int(1, 36500),
    default: '7',
    doc: 'Crypto and stock ticks older than this are trimmed; older late ticks are rejected (`older_than_retention`).',
    usedBy: 'writer, CLI verify',
  }),
  MACRO_TICK_RETENTION_DAYS: spec({
    schema: int(1, 36500),
    default: '3650',
    doc: 'Macro observations are a few a day, and their history is their value: they are kept longer.',
    usedBy: 'writer, CLI verify',
  }),
  CANDLE_RETENTION: spec({
    schema: candleRetention(),
    default: '2000',
    doc: 'Candles kept per source, symbol and timeframe: a default count, then overrides, e.g. `2000,1m=10080,1d=3650`.',
    usedBy: 'writer',
  }),
  TICK_MAX_FUTURE_SECONDS: spec({
    schema: int(0, 86400),
    default: '120',
    doc: 'Ticks stamped further ahead of the clock than this are rejected (`future_timestamp`).',
    usedBy: 'writer, ingest services',
  }),
  NODE_ENV: spec({
    schema: oneOf(['production', 'development', 'test']),
    default: 'production',
    doc: '`development` turns on pretty logs (with LOG_FORMAT=auto).',
    usedBy: 'all services',
  }),

  DASHBOARD_HOST: spec({
    schema: z.string().min(1),
    default: '0.0.0.0',
    doc: 'Address the dashboard (status page, read API, Bull Board) binds to.',
    usedBy: 'dashboard',
  }),
  DASHBOARD_PORT: spec({
    schema: int(0, 65535),
    default: '3000',
    doc: 'Port of the dashboard. 0 picks a free port.',
    usedBy: 'dashboard',
  }),
  DASHBOARD_AUTH: spec({
    schema: oneOf(['basic', 'bearer', 'off']),
    default: 'basic',
    doc: '`basic`: user and password (DASHBOARD_USER, DASHBOARD_PASSWORD); `bearer`: `Authorization: Bearer DASHBOARD_TOKEN`; `off`: no authentication (logged as a warning; only behind a proxy that authenticates).',
    usedBy: 'dashboard',
  }),
  DASHBOARD_USER: spec({
    schema: z.string().min(1).max(200).regex(/^[^:]+$/, 'must not contain ":"'),
    default: 'admin',
    doc: 'User name for basic authentication.',
    usedBy: 'dashboard',
  }),
  DASHBOARD_PASSWORD: spec({
    schema: z.string().min(8, 'must be at least 8 characters').max(200),
    optional: true,
    doc: 'Password for basic authentication; required when DASHBOARD_AUTH=basic.',
    usedBy: 'dashboard',
    secret: 'value',
  }),
  DASHBOARD_TOKEN: spec({
    schema: z.string().min(16, 'must be at least 16 characters').max(500).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    optional: true,
    doc: 'Token for bearer authentication; required when DASHBOARD_AUTH=bearer.',
    usedBy: 'dashboard',
    secret: 'value',
  }),
  DASHBOARD_QUEUE_ACTIONS: spec({
    schema: bool(),
    default: 'false',
    doc: '`true` lets Bull Board retry, remove, pause and clean jobs; `false` keeps it read-only.',
    usedBy: 'dashboard',
  }),
  DASHBOARD_DATABASE_URL: spec({
    schema: url(['postgres:', 'postgresql:']),
    optional: true,
    doc: 'PostgreSQL URL the dashboard reads with, ideally a read-only role. Unset: DATABASE_URL.',
    usedBy: 'dashboard',
    secret: 'url',
  }),
  LATEST_CACHE_TTL_MS: spec({
    schema: int(0, 600_000),
    default: '2000',
    doc: 'How long `/api/latest` answers are cached in Redis, so polling clients do not each query Postgres. 0 disables the cache.',
    usedBy: 'dashboard',
  }),
} as const;

export type EnvName = keyof typeof ENV;
export type EnvValue<K extends EnvName> =
  | z.output<(typeof ENV)[K]['schema']>
  | ((typeof ENV)[K] extends { optional: true } ? undefined : never);


import { z } from 'zod';
import { bool, candleRetention, clusterNodes, int, oneOf, postgresUrl, sourceList, symbolList, url } from './parsers.js';
import { shardList } from './shard-list.js';

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
  /**
   * For a URL: the variable naming a file that holds its password (a Docker or Kubernetes secret
   * file). Read wherever the URL is, by loadConfig, which puts the password into the URL.
   */
  passwordFile?: string;
}

const spec = <S extends z.ZodType<unknown, string>>(s: EnvVarSpec<S>) => s;

/**
 * Every environment variable tickvault reads, in one place. README's configuration table
 * is checked against this list by a test, so a variable cannot exist without documentation.
 */
export const ENV = {
  DATABASE_URL: spec({
    schema: postgresUrl({ writes: true }),
    default: 'postgres://postgres@127.0.0.1:5432/tickvault',
    doc: 'PostgreSQL connection URL. `migrate` creates the database if it does not exist. For failover list every host with `target_session_attrs=read-write` (`postgres://u@pg1:5432,pg2:5432/tickvault?target_session_attrs=read-write`, required with several hosts): each new connection goes to whichever is the primary, so after a promotion the writer, scheduler and CLI find the new one by themselves (see Scaling).',
    usedBy: 'writer, scheduler, dashboard, tickvault CLI',
    secret: 'url',
    passwordFile: 'DATABASE_PASSWORD_FILE',
  }),
  DATABASE_PASSWORD_FILE: spec({
    schema: z.string().min(1),
    optional: true,
    doc: 'File holding the password for DATABASE_URL, which must then carry none: read wherever DATABASE_URL is, and put into it. Compose points it at the password generated on first start (`secrets` volume).',
    usedBy: 'with DATABASE_URL',
  }),
  REDIS_URL: spec({
    schema: url(['redis:', 'rediss:']),
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis connection URL for the queues. Redis must run with `maxmemory-policy noeviction` and AOF.',
    usedBy: 'all services, CLI',
    secret: 'url',
    passwordFile: 'REDIS_PASSWORD_FILE',
  }),
  REDIS_PASSWORD_FILE: spec({
    schema: z.string().min(1),
    optional: true,
    doc: 'File holding the password (`requirepass`, default user) for REDIS_URL, which must then carry none: read wherever REDIS_URL is, and put into it. Compose points it at the password generated on first start (`secrets` volume).',
    usedBy: 'with REDIS_URL',
  }),
  REDIS_CLUSTER_NODES: spec({
    schema: clusterNodes(),
    default: '',
    doc: 'Redis Cluster seed nodes, `host:port,host:port,…` (a few masters are enough: the client learns the rest). Empty: one Redis at REDIS_URL. Set, every service and the CLI connect to the cluster instead of REDIS_URL\'s host; REDIS_URL (or REDIS_PASSWORD_FILE) still gives the password, user and TLS (`rediss://`), and must name no database but 0. Each tick queue shard has its own hash tag, so shards spread over the masters. Replication is asynchronous: a master failover can lose the jobs it had acknowledged but not yet replicated (see Scaling).',
    usedBy: 'all services, CLI, bench',
  }),
  QUEUE_PREFIX: spec({
    schema: z.string().regex(/^\{[a-z0-9_-]{1,40}\}$/, 'must be a Redis hash tag such as {tickvault}'),
    default: '{tickvault}',
    doc: 'Prefix of every queue key; a `{hash tag}` so each queue stays in one Redis Cluster slot.',
    usedBy: 'all services, CLI',
  }),
  TICK_QUEUE_SHARDS: spec({
    schema: int(1, 64),
    default: '1',
    doc: 'Tick queue shards: ingest routes each series to one by hash; writers consume all, or those in WRITER_SHARDS. Each shard has its own hash tag, so on Redis Cluster they spread over slots. Every service must use the same value; when lowering it, keep writers on the old value until the removed shards are empty.',
    usedBy: 'writer, ingest services, dashboard, CLI',
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
    doc: 'Port of `/livez`, `/readyz` and `/metrics`. Unset: writer 9101, ingest-crypto 9102, ingest-stock 9103, ingest-macro 9104, dashboard 9105, scheduler 9106 (`npm start` gives a service whose default is in use a free one, and takes only 0 here). 0 picks a free port.',
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

  DATA_ENVIRONMENT: spec({
    schema: oneOf(['live', 'demo', 'test']),
    default: 'live',
    doc: 'What the data is: `live` (real providers), `demo` (fake feed servers, `sim`) or `test`. Jobs carry it; the database records it with the first stored row (an empty database takes whichever environment writes first), and the writer refuses jobs of another environment and databases holding its data. `live` refuses the `sim` source and provider URLs on loopback. Relabel a database holding data with `npm run tickvault -- data-environment --set <env> --force`.',
    usedBy: 'writer, ingest services, CLI',
  }),
  CRYPTO_SOURCES: spec({
    schema: sourceList(),
    default: 'binance',
    doc: 'Comma list of crypto source ids (`binance`, `coinbase`, `sim`). Set but empty (`CRYPTO_SOURCES=`) disables crypto ingest.',
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
    default: 'auto',
    doc: 'Comma list of stock source ids (`alpaca`, `yahoo`, `sim`). `auto`: `alpaca` when ALPACA_KEY_ID is set (ingest-stock then needs ALPACA_SECRET_KEY too), else `yahoo`. Set but empty (`STOCK_SOURCES=`) disables stock ingest.',
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
    default: 'fred',
    doc: 'Comma list of macro source ids (`fred`, `sim`). Set but empty (`MACRO_SOURCES=`) disables macro ingest.',
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
    doc: 'REQUEST_WEIGHT per minute for Binance REST calls, shared by every ingest replica through Redis (Binance allows 6000 per IP).',
    usedBy: 'ingest-crypto',
  }),
  COINBASE_WS_URL: spec({
    schema: url(['wss:', 'ws:']),
    default: 'wss://ws-feed.exchange.coinbase.com',
    doc: 'Coinbase Exchange WebSocket feed (`coinbase` source: `matches` and `heartbeat` channels).',
    usedBy: 'ingest-crypto',
  }),
  COINBASE_REST_URL: spec({
    schema: url(['https:', 'http:']),
    default: 'https://api.exchange.coinbase.com',
    doc: 'Coinbase Exchange REST API (`coinbase` source): missed trades after a reconnect or sequence gap, candles for gap-fill.',
    usedBy: 'ingest-crypto',
  }),
  ALPACA_WS_URL: spec({
    schema: url(['wss:', 'ws:']),
    default: 'wss://stream.data.alpaca.markets/v2',
    doc: 'Alpaca market-data stream base; the feed (`/iex`, `/sip`) is appended.',
    usedBy: 'ingest-stock',
  }),
  ALPACA_REST_URL: spec({
    schema: url(['https:', 'http:']),
    default: 'https://data.alpaca.markets',
    doc: 'Alpaca market-data REST API (`alpaca` source): bars and trades for catch-up and gap-fill.',
    usedBy: 'ingest-stock',
  }),
  ALPACA_FEED: spec({
    schema: oneOf(['iex', 'sip', 'delayed_sip']),
    default: 'iex',
    doc: 'Alpaca feed: `iex` on the free plan, `sip` with a paid subscription.',
    usedBy: 'ingest-stock',
  }),
  ALPACA_KEY_ID: spec({
    schema: z.string().regex(/^[A-Z0-9]{10,40}$/, 'must be an Alpaca key id (capital letters and digits)'),
    optional: true,
    secret: 'value',
    doc: 'Alpaca API key id. Required by the `alpaca` source; set, it makes `alpaca` the default stock source (`STOCK_SOURCES=auto`). The scheduler and dashboard read it only for that; they never get ALPACA_SECRET_KEY.',
    usedBy: 'ingest-stock, scheduler, dashboard, CLI',
  }),
  ALPACA_SECRET_KEY: spec({
    schema: z.string().min(20, 'must be an Alpaca secret key').max(100),
    optional: true,
    secret: 'value',
    doc: 'Alpaca API secret key (never logged). Only ingest-stock reads it.',
    usedBy: 'ingest-stock',
  }),
  YAHOO_CHART_URL: spec({
    schema: url(['https:', 'http:']),
    default: 'https://query1.finance.yahoo.com/v8/finance/chart',
    doc: 'Yahoo chart endpoint (`yahoo` source; unofficial and rate-limited by IP: best effort).',
    usedBy: 'ingest-stock',
  }),
  YAHOO_POLL_SECONDS: spec({
    schema: int(5, 3600),
    default: '30',
    doc: 'How often the `yahoo` source polls each symbol during the US session (rarely outside it).',
    usedBy: 'ingest-stock',
  }),
  FRED_API_URL: spec({
    schema: url(['https:', 'http:']),
    default: 'https://api.stlouisfed.org/fred',
    doc: 'FRED API base (`fred` source with FRED_API_KEY).',
    usedBy: 'ingest-macro',
  }),
  FRED_GRAPH_URL: spec({
    schema: url(['https:', 'http:']),
    default: 'https://fred.stlouisfed.org/graph/fredgraph.csv',
    doc: 'Keyless FRED CSV download, used by the `fred` source when FRED_API_KEY is unset.',
    usedBy: 'ingest-macro',
  }),
  FRED_API_KEY: spec({
    schema: z.string().regex(/^[a-z0-9]{32}$/, 'must be a 32-character FRED API key (lowercase letters and digits)'),
    optional: true,
    secret: 'value',
    doc: 'FRED API key: the JSON observations API instead of the keyless CSV.',
    usedBy: 'ingest-macro',
  }),
  FRED_POLL_SECONDS: spec({
    schema: int(60, 86_400),
    default: '3600',
    doc: 'How often the `fred` source re-reads each series (and its recent revisions).',
    usedBy: 'ingest-macro',
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
    doc: 'Ticks an ingest service holds while Redis is unreachable. Its buffer also holds at most 256 bytes per tick of this bound (128 MB by default), counting rejections and their samples by size, so bad input cannot grow it. Past a bound the oldest rejection records go first, then the oldest ticks; each is counted.',
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
  WRITER_WRITE_PATH: spec({
    schema: oneOf(['v2', 'v1']),
    default: 'v2',
    doc: '`v2`: trades newer than their series already holds go in by COPY, candles are folded in the writer. `v1`: the previous write path, into the scratch schema `tickvault_v1` that `npm run bench` creates; kept only as the benchmark\'s baseline.',
    usedBy: 'writer',
  }),
  WRITER_FLUSH_DEADLINE_SECONDS: spec({
    schema: int(1, 600),
    default: '30',
    doc: 'A flush still unfinished after this long is given up: its statement is cancelled (the writer\'s statement timeout is just below it), and its jobs are written one by one. A job that still fails alone while Postgres answers spends an attempt, so it ends in the failed set instead of circling; while Postgres does not answer, jobs wait without spending attempts.',
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
  WRITER_SHARDS: spec({
    schema: shardList(),
    default: 'all',
    doc: 'Tick queue shards this writer consumes: `all`, or indexes and ranges such as `0-1` or `0,2,4-7` (each below TICK_QUEUE_SHARDS; a bad or out-of-range value stops the writer naming it). Writers that own different shards let an operator place them (near their database, or splitting load explicitly). Every shard needs a live writer: writers check the service registry every 10 s and, once a shard has had no consumer for 30 s (one registry TTL), log it, export `tickvault_orphaned_shard` and record an `orphaned_shard` event; `report`, `doctor` and the status page name it.',
    usedBy: 'writer',
  }),
  TICK_RETENTION_DAYS: spec({
    schema: int(1, 36500),
    default: '7',
    doc: 'Crypto and stock ticks older than this are rejected when they arrive late (`older_than_retention`) and trimmed by whole UTC days (a day\'s partition is dropped once all of it is past this plus an hour): each tick is kept at least this long and at most a day longer.',
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

  GAP_FILL_CRON: spec({
    schema: z.string().regex(/^\S+( \S+){4,5}$/, 'must be a cron pattern (5 or 6 fields), e.g. 0 3 * * 0'),
    default: '0 3 * * 0',
    doc: 'When the weekly gap-fill runs (cron, UTC): finds missing 1m candles inside retention and asks each provider for them.',
    usedBy: 'scheduler',
  }),
  HEALTH_CRON: spec({
    schema: z.string().regex(/^\S+( \S+){4,5}$/, 'must be a cron pattern (5 or 6 fields), e.g. 0 * * * *'),
    default: '0 * * * *',
    doc: 'When the health check runs (cron, UTC).',
    usedBy: 'scheduler',
  }),
  HEALTH_MIN_POINTS_PER_HOUR: spec({
    schema: int(1, 1_000_000),
    default: '10',
    doc: 'A series with fewer points than this in the last hour while its market was open is unhealthy: a gap-fill is enqueued at once and an event recorded.',
    usedBy: 'scheduler',
  }),
  HEALTH_MAX_SILENCE_SECONDS: spec({
    schema: int(10, 86_400),
    default: '900',
    doc: 'A crypto or stock series with no new point for this long while its market is open is stale: the health check enqueues a fill at once.',
    usedBy: 'scheduler',
  }),
  MACRO_REFRESH_DAYS: spec({
    schema: int(1, 36_500),
    default: '400',
    doc: 'How far back the weekly gap-fill re-reads every macro series (missing points and revisions).',
    usedBy: 'scheduler',
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
    schema: z.string().min(12, 'must be at least 12 characters').max(200),
    optional: true,
    doc: 'Password for basic authentication. Unset: the one in DASHBOARD_PASSWORD_FILE, generated on first start.',
    usedBy: 'dashboard, CLI dashboard-password',
    secret: 'value',
  }),
  DASHBOARD_PASSWORD_FILE: spec({
    schema: z.string().min(1),
    default: '.tickvault/dashboard-password',
    doc: 'Where the basic-auth password is kept when DASHBOARD_PASSWORD is unset. Missing on first start: the dashboard generates a random one, writes it here (mode 0600) and logs it once; `tickvault dashboard-password` prints it again. A relative path is from the working directory (the repository; `/app` in the image, where compose keeps it in the `dashboard-data` volume).',
    usedBy: 'dashboard, CLI dashboard-password',
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
  DASHBOARD_NICE: spec({
    schema: int(0, 19),
    default: '10',
    doc: 'CPU priority the dashboard lowers itself to at start (Unix nice, 0–19): under a flood of readers it yields CPU to the writer and Postgres on the same machine instead of competing with them. 0 leaves it as started.',
    usedBy: 'dashboard',
  }),
  DASHBOARD_DATABASE_URL: spec({
    schema: postgresUrl({ writes: false }),
    optional: true,
    doc: 'PostgreSQL URL the dashboard reads with, ideally a read-only role. Unset: DATABASE_URL.',
    usedBy: 'dashboard',
    secret: 'url',
  }),
  DATABASE_READ_URL: spec({
    schema: postgresUrl({ writes: false }),
    optional: true,
    doc: 'A read replica (a streaming standby) for the dashboard\'s read API and `tickvault report`, so reads do not load the primary. Its lag is shown (`/api/database`, the `X-Replica-Lag-Seconds` header, the report). When it does not answer, reads fail with 503 naming it unless DATABASE_READ_FALLBACK=primary. A password in DATABASE_PASSWORD_FILE is put into it too (a physical standby has the primary\'s roles). Unset: reads go to the primary (DASHBOARD_DATABASE_URL or DATABASE_URL).',
    usedBy: 'dashboard, tickvault CLI report',
    secret: 'url',
    passwordFile: 'DATABASE_PASSWORD_FILE',
  }),
  DATABASE_READ_FALLBACK: spec({
    schema: oneOf(['none', 'primary']),
    default: 'none',
    doc: 'What reads do when the DATABASE_READ_URL replica does not answer: `none` fails them (the API answers 503 naming the replica, `report` exits 1), so a replica outage is seen instead of silently loading the primary; `primary` reads the primary instead (logged, and the `X-Read-Database: primary` header says so).',
    usedBy: 'dashboard, tickvault CLI report',
  }),
  LATEST_CACHE_TTL_MS: spec({
    schema: int(0, 600_000),
    default: '2000',
    doc: 'How long `/api/latest` answers are cached in Redis, so polling clients do not each query Postgres. 0 disables the cache.',
    usedBy: 'dashboard',
  }),
  POSTGRES_PASSWORD: spec({
    schema: z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    optional: true,
    secret: 'value',
    doc: 'docker compose: password of its Postgres role. Unset: a random one generated on first start and kept in the `secrets` volume. Postgres applies it only when it creates its database: changing it later also needs `ALTER ROLE`.',
    usedBy: 'compose `secrets` service (tickvault compose-secrets)',
  }),
  REDIS_PASSWORD: spec({
    schema: z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    optional: true,
    secret: 'value',
    doc: 'docker compose: the password its Redis requires (`requirepass`). Unset: a random one generated on first start and kept in the `secrets` volume.',
    usedBy: 'compose `secrets` service (tickvault compose-secrets)',
  }),
} as const;

export type EnvName = keyof typeof ENV;
export type EnvValue<K extends EnvName> =
  | z.output<(typeof ENV)[K]['schema']>
  | ((typeof ENV)[K] extends { optional: true } ? undefined : never);


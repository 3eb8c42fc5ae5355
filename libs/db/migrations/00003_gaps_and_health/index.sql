-- Every gap the scheduler found, with what became of it. A range the source had nothing for
-- (exchange outage, delisted symbol, a holiday the calendar lacks) stays `no_data`, so later runs
-- do not ask for it again; `failed` keeps the provider's reason.
create table gaps (
  id          bigint generated always as identity primary key,
  source      text        not null,
  symbol      text        not null,
  asset_class text        not null,
  timeframe   text        not null,
  range_start timestamptz not null,
  range_end   timestamptz not null,
  missing     integer     not null,
  status      text        not null check (status in ('open', 'filled', 'no_data', 'failed')),
  rows        integer,
  detail      text,
  detected_at timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  attempts    integer     not null default 1,
  unique (source, symbol, timeframe, range_start, range_end)
);
create index gaps_open_idx on gaps (status, detected_at);
create index gaps_series_idx on gaps (source, symbol, range_start);

-- The latest health check per series (one row each, replaced every hour).
create table series_health (
  source            text        not null,
  symbol            text        not null,
  asset_class       text        not null,
  checked_at        timestamptz not null,
  market_open       boolean     not null,
  points_last_hour  integer     not null,
  last_update       timestamptz,
  status            text        not null check (status in ('ok', 'low', 'stale', 'closed', 'no_data')),
  detail            text,
  primary key (source, symbol)
);

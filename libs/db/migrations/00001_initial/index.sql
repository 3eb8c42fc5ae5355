-- Market data, exactly as the sources sent it. Prices and sizes are numeric: no float rounding.
create table ticks (
  source      text        not null,
  symbol      text        not null,
  asset_class text        not null check (asset_class in ('crypto', 'stock', 'macro')),
  ts          timestamptz not null,
  price       numeric     not null,
  size        numeric     not null,
  trade_id    text,
  ingested_at timestamptz not null default now(),
  -- The natural key makes every write idempotent: redelivery and reconnect resends insert nothing.
  constraint ticks_natural_key unique nulls not distinct (source, symbol, ts, trade_id)
);
-- Retention trims by asset class and age; this index lets it touch only the rows it deletes.
create index ticks_retention_idx on ticks (asset_class, ts);

create table candles (
  source         text        not null,
  symbol         text        not null,
  timeframe      text        not null check (timeframe in ('1m', '5m', '15m', '1h', '4h', '1d', '1w', '1M')),
  open_time      timestamptz not null,
  open           numeric     not null,
  high           numeric     not null,
  low            numeric     not null,
  close          numeric     not null,
  volume         numeric     not null,
  trade_count    integer     not null,
  -- The earliest and latest tick folded in so far: late or out-of-order ticks merge correctly.
  first_ts       timestamptz not null,
  first_trade_id text,
  last_ts        timestamptz not null,
  last_trade_id  text,
  updated_at     timestamptz not null default now(),
  primary key (source, symbol, timeframe, open_time)
);

-- Per series and timeframe, the oldest candle still kept. Late ticks for older buckets do not
-- recreate candles that retention would only trim again.
create table candle_cutoffs (
  source    text        not null,
  symbol    text        not null,
  timeframe text        not null,
  cutoff    timestamptz not null,
  primary key (source, symbol, timeframe)
);

create table rejected_ticks (
  id          bigint generated always as identity primary key,
  rejected_at timestamptz not null default now(),
  source      text        not null,
  symbol      text,
  reason      text        not null,
  detail      text        not null,
  sample      text        not null,
  -- 'ingest' (refused before queueing) or 'writer' (refused by the consumer's validation).
  origin      text        not null,
  -- Queue job and position: a redelivered job records its rejections once.
  job_key     text        not null,
  position    integer     not null,
  unique (job_key, origin, position)
);
create index rejected_ticks_time_idx on rejected_ticks (rejected_at);
create index rejected_ticks_reason_idx on rejected_ticks (source, reason, rejected_at);

create table system_events (
  id         bigint generated always as identity primary key,
  ts         timestamptz not null default now(),
  service    text        not null,
  kind       text        not null,
  symbol     text,
  details    jsonb       not null default '{}',
  -- Events that travel through the queue carry their job key, so redelivery records them once.
  dedupe_key text unique
);
create index system_events_time_idx on system_events (ts);
create index system_events_kind_idx on system_events (kind, ts);

-- Bucket start of a timeframe, in UTC. Minutes to days are fixed-width bins from midnight
-- 2000-01-01 UTC (so 4h candles open at 00, 04, ... UTC); weeks start on Monday; months on the 1st.
-- Declared stable, like the date_trunc it calls, so the planner inlines it: a called SQL function
-- per row would cost more than the whole aggregation.
create function tv_bucket(tf text, ts timestamptz) returns timestamptz
language sql stable parallel safe as $$
  select case tf
    when '1m'  then date_bin('1 minute',   ts, timestamptz '2000-01-01 00:00:00+00')
    when '5m'  then date_bin('5 minutes',  ts, timestamptz '2000-01-01 00:00:00+00')
    when '15m' then date_bin('15 minutes', ts, timestamptz '2000-01-01 00:00:00+00')
    when '1h'  then date_bin('1 hour',     ts, timestamptz '2000-01-01 00:00:00+00')
    when '4h'  then date_bin('4 hours',    ts, timestamptz '2000-01-01 00:00:00+00')
    when '1d'  then date_bin('1 day',      ts, timestamptz '2000-01-01 00:00:00+00')
    when '1w'  then date_trunc('week',  ts, 'UTC')
    when '1M'  then date_trunc('month', ts, 'UTC')
  end
$$;

create function tv_bucket_end(tf text, open_time timestamptz) returns timestamptz
language sql stable parallel safe as $$
  select case tf
    when '1m'  then open_time + interval '1 minute'
    when '5m'  then open_time + interval '5 minutes'
    when '15m' then open_time + interval '15 minutes'
    when '1h'  then open_time + interval '1 hour'
    when '4h'  then open_time + interval '4 hours'
    when '1d'  then open_time + interval '1 day'
    when '1w'  then open_time + interval '1 week'
    when '1M'  then (open_time at time zone 'UTC' + interval '1 month') at time zone 'UTC'
  end
$$;

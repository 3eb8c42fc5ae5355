-- Minutes a provider bar has held, kept as long as trades are accepted (tick retention), so a late
-- trade for such a minute is never folded into larger candles even after 1m retention trimmed the
-- bar's own candle: the bar already counted it.
create table bar_minutes (
  source  text        not null,
  symbol  text        not null,
  minute  timestamptz not null,
  primary key (source, symbol, minute)
);
create index bar_minutes_age_idx on bar_minutes (minute);

-- When the ingest service received the bar: of two versions of one minute's bar, the later one wins,
-- whatever order the writers commit them in (a correction must not be undone by a reordered original).
alter table candles add column bar_seen_at timestamptz;

-- A one-minute candle that is a provider's own bar (Alpaca, Yahoo, Binance klines from gap-fill).
-- Ticks of such a minute are stored but not folded in again, and a later bar replaces it, so no
-- volume is counted twice. Larger timeframes over bar minutes are recomputed from the 1m candles.
alter table candles add column from_bar boolean not null default false;
-- Some providers' bars carry no trade count (Yahoo).
alter table candles alter column trade_count drop not null;

-- Facts about the database itself. `data_environment` (live, demo or test) is recorded by the first
-- writer and checked by every later one, so simulated or fake-feed data never mixes with live data.
create table tickvault_meta (
  key    text        primary key,
  value  text        not null,
  set_at timestamptz not null default now(),
  set_by text        not null
);

-- Trades per series and UTC day, kept as they are written, so "how many ticks does this series
-- hold" costs the same at a million and a billion rows (the status page asks every few seconds).
-- Writers append deltas (no row is shared, so writers never wait on each other for a count); the
-- maintenance run folds them into tick_counts; dropping a day's partition drops its counts.
create table tick_counts (
  series_id integer not null,
  day       date    not null,
  n         bigint  not null,
  primary key (series_id, day)
);

create table tick_count_deltas (
  series_id integer not null,
  day       date    not null,
  n         bigint  not null
);
create index tick_count_deltas_series_idx on tick_count_deltas (series_id);

-- Counts everything in tick_rows again (the migration itself, or after rows were loaded by hand).
create function tv_rebuild_tick_counts() returns bigint
language plpgsql as $$
declare
  total bigint;
begin
  lock table tick_count_deltas in exclusive mode;
  delete from tick_count_deltas;
  delete from tick_counts;
  insert into tick_counts (series_id, day, n)
  select series_id, (ts at time zone 'UTC')::date, count(*) from tick_rows group by 1, 2;
  select coalesce(sum(n), 0) into total from tick_counts;
  return total;
end $$;

select tv_rebuild_tick_counts();

-- Trades inserted through the ticks view are counted too.
create or replace function tv_ticks_view_insert() returns trigger
language plpgsql as $$
declare
  sid integer;
  added integer;
begin
  insert into series (source, symbol, asset_class) values (new.source, new.symbol, new.asset_class)
  on conflict (source, symbol) do nothing;
  select id into sid from series where source = new.source and symbol = new.symbol;
  if new.asset_class = 'macro' then
    insert into macro_points (series_id, ts, trade_id, price, size, ingested_at)
    values (sid, new.ts, new.trade_id, new.price, new.size, coalesce(new.ingested_at, now()))
    on conflict on constraint macro_points_key do nothing;
  else
    perform tv_ensure_tick_partitions((new.ts at time zone 'UTC')::date, (new.ts at time zone 'UTC')::date);
    insert into tick_rows (series_id, ts, trade_id, price, size, ingested_at)
    values (sid, new.ts, new.trade_id, new.price, new.size, coalesce(new.ingested_at, now()))
    on conflict on constraint tick_rows_key do nothing;
    get diagnostics added = row_count;
    if added > 0 then
      insert into tick_count_deltas (series_id, day, n) values (sid, (new.ts at time zone 'UTC')::date, added);
    end if;
  end if;
  return new;
end $$;

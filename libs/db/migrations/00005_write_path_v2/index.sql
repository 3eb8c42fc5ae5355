-- Write path v2. Trades go into `tick_rows`: a small integer series id instead of the text
-- (source, symbol) in every row and its key, and one range partition per UTC day, so tick retention
-- drops whole days instead of deleting row by row through a second index. Macro observations are
-- revisable and kept for years: they get a table of their own. The `ticks` view keeps every reader's
-- columns (source, symbol, asset_class, ts, price, size, trade_id, ingested_at).

create table series (
  id          integer generated always as identity primary key,
  source      text not null,
  symbol      text not null,
  asset_class text not null check (asset_class in ('crypto', 'stock', 'macro')),
  unique (source, symbol)
);

-- Crypto and stock trades. No foreign key to series: the writer resolves ids in the same transaction,
-- and a per-row key check would cost what the compact key saves.
create table tick_rows (
  series_id   integer     not null,
  ts          timestamptz not null,
  trade_id    text,
  price       numeric     not null,
  size        numeric     not null,
  ingested_at timestamptz not null default now(),
  -- The natural key: redelivery and reconnect resends insert nothing.
  constraint tick_rows_key unique nulls not distinct (series_id, ts, trade_id)
) partition by range (ts);

create table macro_points (
  series_id   integer     not null,
  ts          timestamptz not null,
  trade_id    text,
  price       numeric     not null,
  size        numeric     not null,
  ingested_at timestamptz not null default now(),
  constraint macro_points_key unique nulls not distinct (series_id, ts, trade_id)
);
-- Macro retention deletes by age; the table holds a few rows per series and day.
create index macro_points_ts_idx on macro_points (ts);

-- Creates the missing daily partitions of tick_rows for [first_day, last_day]. Serialized by an
-- advisory lock, so writers and the maintenance job may call it at once. Returns partitions created.
create function tv_ensure_tick_partitions(first_day date, last_day date) returns integer
language plpgsql as $$
declare
  d date;
  created integer := 0;
begin
  perform pg_advisory_xact_lock(7411226002);
  d := first_day;
  while d <= last_day loop
    if to_regclass('tick_rows_p' || to_char(d, 'YYYYMMDD')) is null then
      execute format('create table %I partition of tick_rows for values from (%L) to (%L)',
        'tick_rows_p' || to_char(d, 'YYYYMMDD'), d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
      created := created + 1;
    end if;
    d := d + 1;
  end loop;
  return created;
end $$;

-- Drops the daily partitions that end at or before `horizon`: retention costs one catalog change per
-- day, whatever the table's size. Returns the rows they held (from the planner's statistics).
create function tv_drop_tick_partitions(horizon timestamptz) returns table (partition text, approx_rows bigint)
language plpgsql as $$
declare
  p record;
begin
  perform pg_advisory_xact_lock(7411226002);
  for p in
    select c.relname, c.reltuples::bigint as tuples from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'tick_rows'::regclass and c.relname ~ '^tick_rows_p[0-9]{8}$'
      and (to_date(substr(c.relname, 12), 'YYYYMMDD') + 1)::timestamp at time zone 'UTC' <= horizon
    order by c.relname
  loop
    execute format('drop table %I', p.relname);
    partition := p.relname;
    approx_rows := greatest(p.tuples, 0);
    return next;
  end loop;
end $$;

-- Existing data moves over: series first, then the partitions its trades need, then the rows.
insert into series (source, symbol, asset_class)
select source, symbol, min(asset_class) from ticks group by source, symbol order by source, symbol;

select tv_ensure_tick_partitions(
  least(coalesce((select min(ts) from ticks where asset_class <> 'macro'), now()), now() - interval '1 day')::date,
  (greatest(coalesce((select max(ts) from ticks where asset_class <> 'macro'), now()), now()) + interval '2 days')::date);

insert into tick_rows (series_id, ts, trade_id, price, size, ingested_at)
select s.id, t.ts, t.trade_id, t.price, t.size, t.ingested_at
from ticks t join series s on s.source = t.source and s.symbol = t.symbol
where t.asset_class <> 'macro';

insert into macro_points (series_id, ts, trade_id, price, size, ingested_at)
select s.id, t.ts, t.trade_id, t.price, t.size, t.ingested_at
from ticks t join series s on s.source = t.source and s.symbol = t.symbol
where t.asset_class = 'macro';

drop table ticks;

-- What every reader sees, as before.
create view ticks as
select s.source, s.symbol, s.asset_class, r.ts, r.price, r.size, r.trade_id, r.ingested_at
from tick_rows r join series s on s.id = r.series_id
union all
select s.source, s.symbol, s.asset_class, m.ts, m.price, m.size, m.trade_id, m.ingested_at
from macro_points m join series s on s.id = m.series_id;

-- Inserts into the view (tools, tests, hand-made fixes) land in the right table, idempotently.
create function tv_ticks_view_insert() returns trigger
language plpgsql as $$
declare
  sid integer;
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
  end if;
  return new;
end $$;

create trigger ticks_view_insert instead of insert on ticks for each row execute function tv_ticks_view_insert();

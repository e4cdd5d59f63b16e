-- Up Migration
-- The relay's progress is the last (txid, id) of each batch it published, in relay_marks, instead
-- of published_at on every row. The relay reads rows in (txid, id) order below the xmin horizon,
-- so what it has published is always a prefix of that order, and every row at or below the latest
-- mark is published. Marking each row was an update per event: about a sixth of the primary's WAL
-- at 1,000 single-sample POSTs/s (not HOT, as the partial index's predicate named the column), and
-- a dead tuple per event for vacuum. A mark is one row per batch, kept for the outbox's retention
-- so that when each event was marked stays readable.
create table relay_marks (
  txid xid8 not null,
  id uuid not null,
  marked_at timestamptz not null default now(),
  primary key (txid, id)
);
-- The mark below every row: relay_cursor always has a row.
insert into relay_marks (txid, id) values ('0', '00000000-0000-0000-0000-000000000000');
create view relay_cursor as
  select txid, id, marked_at from relay_marks order by txid desc, id desc limit 1;

-- Built here unless it exists: on a large outbox, build it beforehand without blocking writes
-- (docs/operations.md, Upgrades).
create index if not exists outbox_position_idx on outbox (txid, id);
-- The end of the published prefix: the last published row with no unpublished row before it.
insert into relay_marks (txid, id)
select txid, id from outbox o
 where published_at is not null
   and not exists (select 1 from outbox u where u.published_at is null and (u.txid, u.id) < (o.txid, o.id))
 order by txid desc, id desc
 limit 1;
drop index outbox_unpublished_idx;
alter table outbox drop column published_at;

-- Down Migration
alter table outbox add column published_at timestamptz;
update outbox set published_at = now() where (txid, id) <= (select txid, id from relay_cursor);
create index outbox_unpublished_idx on outbox (txid, id) where published_at is null;
drop index outbox_position_idx;
drop view relay_cursor;
drop table relay_marks;

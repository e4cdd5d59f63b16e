-- Up Migration

-- Set by a rebuild from the write DB: the snapshot its backfill read. Events of transactions
-- visible in it are already in the projection, so the projector records them as applied but
-- does not apply them again.
create table backfill_snapshot (
  singleton boolean primary key default true check (singleton),
  snapshot pg_snapshot not null,
  taken_at timestamptz not null default now()
);

-- Down Migration

drop table backfill_snapshot;

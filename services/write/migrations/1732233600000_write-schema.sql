-- Up Migration

-- The write model of Pulse. Its contract with the replicator is the outbox table: see
-- docs/write-service.md before changing it.

create table tenants (
  id uuid primary key,
  name text not null unique,
  alert_rules jsonb not null,
  created_at timestamptz not null default now()
);

create table api_keys (
  id uuid primary key,
  tenant_id uuid not null references tenants (id) on delete cascade,
  name text not null,
  -- SHA-256 of the secret: the secret itself is shown once when the key is issued and never stored.
  key_hash bytea not null unique,
  scopes text[] not null check (cardinality(scopes) > 0 and scopes <@ array['write', 'read', 'admin']),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index api_keys_tenant_idx on api_keys (tenant_id);

create table services (
  id uuid primary key,
  tenant_id uuid not null references tenants (id) on delete cascade,
  name text not null,
  hostname text not null,
  os text,
  version text,
  labels jsonb not null default '{}',
  registered_at timestamptz not null default now(),
  last_heartbeat_at timestamptz,
  unique (tenant_id, name, hostname)
);

-- Samples are range-partitioned by day so that retention drops whole partitions instead of
-- deleting rows. The primary key doubles as the index for per-service time-range reads, and makes
-- a re-sent sample a no-op rather than a duplicate.
create table system_metrics (
  service_id uuid not null references services (id) on delete cascade,
  observed_at timestamptz not null,
  cpu_usage double precision not null,
  memory_usage double precision not null,
  disk_usage double precision not null,
  load_avg double precision not null,
  network_rx_bytes bigint not null,
  network_tx_bytes bigint not null,
  gpu_usage double precision,
  recorded_at timestamptz not null default now(),
  primary key (service_id, observed_at)
) partition by range (observed_at);

create table process_metrics (
  service_id uuid not null references services (id) on delete cascade,
  observed_at timestamptz not null,
  pid integer not null,
  process_name text not null,
  cpu_usage double precision not null,
  memory_usage double precision not null,
  primary key (service_id, observed_at, pid)
) partition by range (observed_at);

create table outbox (
  id uuid primary key,
  txid xid8 not null default pg_current_xact_id(),
  type text not null,
  version int not null,
  tenant_id uuid not null,
  aggregate_id uuid not null,
  occurred_at timestamptz not null,
  created_at timestamptz not null default clock_timestamp(),
  traceparent text,
  payload jsonb not null,
  published_at timestamptz
);
create index outbox_unpublished_idx on outbox (txid, id) where published_at is null;

create function pulse_outbox_notify() returns trigger language plpgsql as $$
begin
  -- Delivered at commit, once per transaction and channel: it only wakes the relay, which polls too.
  perform pg_notify('pulse_outbox', '');
  return null;
end $$;
create trigger outbox_notify after insert on outbox for each statement execute function pulse_outbox_notify();

-- One row per command: the client's Idempotency-Key, or a key the service makes up, so that a
-- command retried after a lost connection (its COMMIT may have succeeded) takes effect once.
create table idempotency_keys (
  tenant_id uuid not null references tenants (id) on delete cascade,
  key text not null,
  request_hash bytea not null,
  status_code int,
  response jsonb,
  created_at timestamptz not null default now(),
  primary key (tenant_id, key)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);

-- Creates the daily partitions from the retention horizon to p_days_ahead days after p_today, and
-- drops the ones wholly before the horizon. Days are UTC. Returns what it changed.
create function pulse_maintain_partitions(p_today date, p_retention_days int, p_days_ahead int)
returns table (action text, partition_name text) language plpgsql as $$
declare
  parent text;
  d date;
  child text;
begin
  -- Two instances starting together must not race on the same CREATE TABLE.
  perform pg_advisory_xact_lock(hashtext('pulse_maintain_partitions'));
  foreach parent in array array['system_metrics', 'process_metrics'] loop
    for child in
      select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = parent::regclass
    loop
      if to_date(right(child, 8), 'YYYYMMDD') < p_today - p_retention_days then
        execute format('drop table %I', child);
        action := 'dropped';
        partition_name := child;
        return next;
      end if;
    end loop;
    for d in select generate_series(p_today - p_retention_days, p_today + p_days_ahead, interval '1 day')::date loop
      partition_name := format('%s_p%s', parent, to_char(d, 'YYYYMMDD'));
      if to_regclass(partition_name) is null then
        execute format('create table %I partition of %I for values from (%L) to (%L)', partition_name, parent,
          d::timestamp at time zone 'UTC', (d + 1)::timestamp at time zone 'UTC');
        action := 'created';
        return next;
      end if;
    end loop;
  end loop;
end $$;

-- Down Migration

drop function pulse_maintain_partitions(date, int, int);
drop table idempotency_keys;
drop trigger outbox_notify on outbox;
drop function pulse_outbox_notify();
drop table outbox;
drop table process_metrics;
drop table system_metrics;
drop table services;
drop table api_keys;
drop table tenants;

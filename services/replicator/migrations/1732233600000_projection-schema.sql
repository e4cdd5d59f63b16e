-- Up Migration

-- The projection database: one denormalized table per view, so the read service answers every
-- dashboard query from one table without joins. Everything here can be rebuilt from the events.

create table services_status (
  service_id uuid primary key,
  tenant_id uuid not null,
  name text,
  hostname text,
  os text,
  version text,
  labels jsonb not null default '{}',
  registered_at timestamptz,
  last_heartbeat_at timestamptz,
  latest_observed_at timestamptz,
  cpu_usage double precision,
  memory_usage double precision,
  disk_usage double precision,
  -- Averages of the hour that holds the latest sample, from metrics_hourly (sum / count).
  cpu_usage_avg_1h double precision,
  memory_usage_avg_1h double precision,
  disk_usage_avg_1h double precision,
  open_alerts int not null default 0,
  updated_at timestamptz not null default now()
);
create index services_status_tenant_idx on services_status (tenant_id, name, service_id);
create index services_status_labels_idx on services_status using gin (labels);

-- Latest sample by observed_at, never by arrival.
create table metrics_latest (
  service_id uuid primary key,
  tenant_id uuid not null,
  observed_at timestamptz not null,
  cpu_usage double precision not null,
  memory_usage double precision not null,
  disk_usage double precision not null,
  load_avg double precision not null,
  network_rx_bytes bigint not null,
  network_tx_bytes bigint not null,
  gpu_usage double precision
);
create index metrics_latest_tenant_idx on metrics_latest (tenant_id);

-- Per gauge: count, sum, min, max of one service in one hour. avg = sum / count. gpu has its own
-- count because it is optional per sample.
create table metrics_hourly (
  service_id uuid not null,
  hour timestamptz not null,
  tenant_id uuid not null,
  samples bigint not null,
  cpu_usage_sum double precision not null, cpu_usage_min double precision not null, cpu_usage_max double precision not null,
  memory_usage_sum double precision not null, memory_usage_min double precision not null, memory_usage_max double precision not null,
  disk_usage_sum double precision not null, disk_usage_min double precision not null, disk_usage_max double precision not null,
  load_avg_sum double precision not null, load_avg_min double precision not null, load_avg_max double precision not null,
  gpu_usage_count bigint not null default 0,
  gpu_usage_sum double precision, gpu_usage_min double precision, gpu_usage_max double precision,
  primary key (service_id, hour)
);

create table processes_latest (
  service_id uuid not null,
  pid int not null,
  tenant_id uuid not null,
  observed_at timestamptz not null,
  process_name text not null,
  cpu_usage double precision not null,
  memory_usage double precision not null,
  primary key (service_id, pid)
);

create table alert_rules (
  tenant_id uuid primary key,
  rules jsonb not null
);

create table alerts (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  service_id uuid not null,
  rule text not null check (rule in ('cpu', 'memory', 'disk', 'heartbeat')),
  severity text not null check (severity in ('warning', 'critical')),
  state text not null check (state in ('open', 'resolved')),
  value double precision,
  threshold double precision not null,
  opened_at timestamptz not null,
  resolved_at timestamptz
);
-- An alert opens once: at most one open alert per service and rule.
create unique index alerts_one_open_idx on alerts (service_id, rule) where state = 'open';
create index alerts_tenant_idx on alerts (tenant_id, state, opened_at desc);

-- Next offset to apply per consumer group and partition, written in the same transaction as the
-- effects of the events before it.
create table projection_offsets (
  group_id text not null,
  topic text not null,
  partition int not null,
  next_offset bigint not null,
  updated_at timestamptz not null default now(),
  primary key (group_id, topic, partition)
);

-- Every applied event id: a redelivered or re-published event is recognised and skipped; the
-- position of a command (txid + event count) is answered from here.
create table applied_events (
  event_id uuid primary key,
  tenant_id uuid not null,
  position xid8 not null,
  recorded_at timestamptz not null,
  applied_at timestamptz not null default now()
);
create index applied_events_position_idx on applied_events (position);
create index applied_events_applied_at_idx on applied_events (applied_at);

create table dead_letters (
  id bigint generated always as identity primary key,
  event_id uuid,
  topic text not null,
  partition int not null,
  "offset" bigint not null,
  key text,
  value text not null,
  error text not null,
  attempts int not null,
  failed_at timestamptz not null default now(),
  replayed_at timestamptz,
  unique (topic, partition, "offset")
);
create index dead_letters_pending_idx on dead_letters (failed_at) where replayed_at is null;

-- Down Migration

drop table dead_letters;
drop table applied_events;
drop table projection_offsets;
drop table alerts;
drop table alert_rules;
drop table processes_latest;
drop table metrics_hourly;
drop table metrics_latest;
drop table services_status;

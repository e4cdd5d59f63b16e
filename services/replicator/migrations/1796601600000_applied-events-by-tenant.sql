-- Up Migration
-- The read service answers a tenant's last applied position (/dashboard, /sync-status) with the
-- newest of the tenant's applied events. With only applied_at indexed, finding it walked back
-- through every other tenant's events applied since, and through the whole table for a tenant
-- with none. Building it blocks the projector's inserts for as long as it takes; on a large
-- projection, create it beforehand without blocking (docs/operations.md, Upgrades) and this finds it.
create index if not exists applied_events_tenant_applied_idx on applied_events (tenant_id, applied_at);

-- Down Migration
drop index applied_events_tenant_applied_idx;

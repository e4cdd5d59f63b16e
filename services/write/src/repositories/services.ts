import { prepared, type Queryable } from '@pulse/core';

export interface NewService {
  id: string;
  tenantId: string;
  name: string;
  hostname: string;
  os: string | null;
  version: string | null;
  labels: Record<string, string>;
}

/** Returns the registration time, or undefined when the tenant already has this name on this host. */
export async function insertService(tx: Queryable, service: NewService): Promise<string | undefined> {
  const { rows } = await tx.query<{ registered_at: string }>(
    `insert into services (id, tenant_id, name, hostname, os, version, labels) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (tenant_id, name, hostname) do nothing
     returning to_json(registered_at) #>> '{}' as registered_at`,
    [
      service.id,
      service.tenantId,
      service.name,
      service.hostname,
      service.os,
      service.version,
      service.labels,
    ],
  );
  return rows[0]?.registered_at;
}

export interface RegisteredService {
  id: string;
  /** The transaction that registered it; null for a service registered before the services row kept it. */
  registeredTxid: string | null;
}

export async function findServiceByName(
  tx: Queryable,
  tenantId: string,
  name: string,
  hostname: string,
): Promise<RegisteredService | undefined> {
  const { rows } = await tx.query<RegisteredService>(
    `select id, registered_txid::text as "registeredTxid"
       from services where tenant_id = $1 and name = $2 and hostname = $3`,
    [tenantId, name, hostname],
  );
  return rows[0];
}

export interface HeartbeatRow {
  tenantId: string;
  serviceId: string;
  observedAt: string;
}

/**
 * Moves each service's heartbeat forward (never back, as heartbeats can arrive out of order) to the
 * latest of its beats; returns the indexes of the beats whose service is not their tenant's.
 */
export async function recordHeartbeats(tx: Queryable, beats: HeartbeatRow[]): Promise<number[]> {
  const { rows } = await tx.query<{ index: number }>(
    prepared(
      'write.record-heartbeats',
      `with beat as (
       select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) with ordinality
         as b(tenant_id, service_id, observed_at, ordinal)
     ), moved as (
       update services s set last_heartbeat_at = greatest(s.last_heartbeat_at, latest.observed_at)
       from (select tenant_id, service_id, max(observed_at) as observed_at from beat
             group by tenant_id, service_id) latest
       where s.tenant_id = latest.tenant_id and s.id = latest.service_id
       returning s.tenant_id, s.id
     )
     select (ordinal - 1)::int as index from beat
     where not exists (select 1 from moved where moved.tenant_id = beat.tenant_id and moved.id = beat.service_id)
     order by ordinal`,
      [beats.map((b) => b.tenantId), beats.map((b) => b.serviceId), beats.map((b) => b.observedAt)],
    ),
  );
  return rows.map((row) => row.index);
}

/** The subset of the ids that are services of the tenant. */
export async function ownedServiceIds(tx: Queryable, tenantId: string, ids: string[]): Promise<Set<string>> {
  const { rows } = await tx.query<{ id: string }>(
    prepared(
      'write.owned-service-ids',
      'select id from services where tenant_id = $1 and id = any($2::uuid[])',
      [tenantId, ids],
    ),
  );
  return new Set(rows.map((row) => row.id));
}

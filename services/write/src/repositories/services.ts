import type { Queryable } from '@pulse/core';

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

export async function findServiceByName(
  tx: Queryable,
  tenantId: string,
  name: string,
  hostname: string,
): Promise<string | undefined> {
  const { rows } = await tx.query<{ id: string }>(
    'select id from services where tenant_id = $1 and name = $2 and hostname = $3',
    [tenantId, name, hostname],
  );
  return rows[0]?.id;
}

/** Moves the heartbeat forward (never back, as heartbeats can arrive out of order); false if not the tenant's. */
export async function recordHeartbeat(
  tx: Queryable,
  tenantId: string,
  serviceId: string,
  observedAt: string,
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `update services set last_heartbeat_at = greatest(last_heartbeat_at, $3::timestamptz)
     where tenant_id = $1 and id = $2`,
    [tenantId, serviceId, observedAt],
  );
  return rowCount === 1;
}

/** The subset of the ids that are services of the tenant. */
export async function ownedServiceIds(tx: Queryable, tenantId: string, ids: string[]): Promise<Set<string>> {
  const { rows } = await tx.query<{ id: string }>(
    'select id from services where tenant_id = $1 and id = any($2::uuid[])',
    [tenantId, ids],
  );
  return new Set(rows.map((row) => row.id));
}

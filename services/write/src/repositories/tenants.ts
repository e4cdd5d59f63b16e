import { DEFAULT_ALERT_RULES, onlyRow, type AlertRules, type Queryable } from '@pulse/core';
import type pg from 'pg';

export interface TenantRow {
  id: string;
  name: string;
  created_at: string;
}

const TENANT_COLUMNS = `id, name, to_json(created_at) #>> '{}' as created_at`;

/** Returns undefined when a tenant of that name exists. */
export async function insertTenant(tx: Queryable, id: string, name: string): Promise<TenantRow | undefined> {
  const { rows } = await tx.query<TenantRow>(
    `insert into tenants (id, name, alert_rules) values ($1, $2, $3)
     on conflict (name) do nothing returning ${TENANT_COLUMNS}`,
    [id, name, DEFAULT_ALERT_RULES],
  );
  return rows[0];
}

/** Finds or creates a tenant by name (the bootstrap admin's tenant, the demo tenant). */
export async function ensureTenant(db: pg.Pool | Queryable, id: string, name: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into tenants (id, name, alert_rules) values ($1, $2, $3)
     on conflict (name) do update set name = excluded.name returning id`,
    [id, name, DEFAULT_ALERT_RULES],
  );
  return onlyRow(rows).id;
}

/** Whether the tenant is the platform's own (the bootstrap admin key's), whose admins manage every tenant. */
export async function isSystemTenant(
  db: pg.Pool | Queryable,
  id: string,
  systemName: string,
): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from tenants where id = $1 and name = $2', [id, systemName]);
  return rowCount === 1;
}

export async function tenantExists(tx: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await tx.query('select 1 from tenants where id = $1', [id]);
  return rowCount === 1;
}

/** Returns false when the tenant does not exist. */
export async function setAlertRules(tx: Queryable, tenantId: string, rules: AlertRules): Promise<boolean> {
  const { rowCount } = await tx.query('update tenants set alert_rules = $2 where id = $1', [tenantId, rules]);
  return rowCount === 1;
}

import type { Queryable, Scope } from '@pulse/core';
import type pg from 'pg';

export interface NewApiKey {
  id: string;
  tenantId: string;
  name: string;
  keyHash: Buffer;
  scopes: Scope[];
}

/** Inserts the key unless one with the same hash exists (a bootstrap key stored at every start). */
export async function insertApiKey(
  db: pg.Pool | Queryable,
  key: NewApiKey,
): Promise<{ created_at: string } | undefined> {
  const { rows } = await db.query<{ created_at: string }>(
    `insert into api_keys (id, tenant_id, name, key_hash, scopes) values ($1, $2, $3, $4, $5)
     on conflict (key_hash) do nothing returning to_json(created_at) #>> '{}' as created_at`,
    [key.id, key.tenantId, key.name, key.keyHash, key.scopes],
  );
  return rows[0];
}

/** Returns false when the tenant has no such key; revoking twice is not an error. */
export async function revokeApiKey(tx: Queryable, tenantId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    'update api_keys set revoked_at = coalesce(revoked_at, now()) where tenant_id = $1 and id = $2',
    [tenantId, keyId],
  );
  return rowCount === 1;
}

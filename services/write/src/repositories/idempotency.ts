/** Idempotency records: a command's key, its request's hash and the answer it committed. */
import { onlyRow, type Queryable } from '@pulse/core';
import type pg from 'pg';

export interface StoredResponse {
  requestHash: Buffer;
  status: number;
  body: Record<string, unknown>;
}

/**
 * Claims the key for this transaction. If another transaction holds the same key uncommitted, the
 * insert waits for it; so a key seen here belongs to a command that has committed, and its
 * stored answer is returned instead.
 */
export async function claimIdempotencyKey(
  tx: Queryable,
  tenantId: string,
  key: string,
  requestHash: Buffer,
): Promise<StoredResponse | undefined> {
  const claimed = await tx.query(
    `insert into idempotency_keys (tenant_id, key, request_hash) values ($1, $2, $3)
     on conflict (tenant_id, key) do nothing`,
    [tenantId, key, requestHash],
  );
  if (claimed.rowCount === 1) return undefined;
  const { rows } = await tx.query<{
    request_hash: Buffer;
    status_code: number;
    response: Record<string, unknown>;
  }>('select request_hash, status_code, response from idempotency_keys where tenant_id = $1 and key = $2', [
    tenantId,
    key,
  ]);
  const row = onlyRow(rows);
  return { requestHash: row.request_hash, status: row.status_code, body: row.response };
}

export async function storeIdempotentResponse(
  tx: Queryable,
  tenantId: string,
  key: string,
  status: number,
  body: Record<string, unknown>,
): Promise<void> {
  await tx.query(
    'update idempotency_keys set status_code = $3, response = $4 where tenant_id = $1 and key = $2',
    [tenantId, key, status, body],
  );
}

export async function purgeIdempotencyKeys(pool: pg.Pool, olderThanHours: number): Promise<number> {
  const { rowCount } = await pool.query(
    `delete from idempotency_keys where created_at < now() - make_interval(hours => $1)`,
    [olderThanHours],
  );
  return rowCount ?? 0;
}

/** Idempotency records: a command's key, its request's hash and the answer it committed. */
import { formatPosition } from '@pulse/core';
import type pg from 'pg';

export interface StoredResponse {
  requestHash: Buffer;
  status: number;
  body: Record<string, unknown>;
  /** The command's position: kept in the body by older rows and by commands that name another transaction's. */
  position: string;
}

/** The committed answer of the command that holds this key (written by appendEvents in outbox.ts). */
export async function findStoredResponse(
  db: pg.Pool,
  tenantId: string,
  key: string,
): Promise<StoredResponse | undefined> {
  const { rows } = await db.query<{
    request_hash: Buffer;
    status_code: number;
    response: Record<string, unknown>;
    txid: string;
    events: number;
  }>(
    `select request_hash, status_code, response, txid::text, events
       from idempotency_keys where tenant_id = $1 and key = $2`,
    [tenantId, key],
  );
  const row = rows[0];
  if (!row) return undefined;
  const stored = row.response.position;
  return {
    requestHash: row.request_hash,
    status: row.status_code,
    body: row.response,
    position: typeof stored === 'string' ? stored : formatPosition({ txid: row.txid, events: row.events }),
  };
}

/**
 * Deletes the keys past their TTL, a chunk per transaction until a chunk comes back short. One
 * statement for an hour of keys would be one long transaction, and the relay reads no outbox row
 * of a transaction that started after it (rows only below the xmin horizon) until it ends: the
 * pipeline would stall for as long as the delete ran, every hour.
 */
export async function purgeIdempotencyKeys(
  pool: pg.Pool,
  olderThanHours: number,
  chunk = 5_000,
): Promise<number> {
  let purged = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      `delete from idempotency_keys where (tenant_id, key) in (
         select tenant_id, key from idempotency_keys where created_at < now() - make_interval(hours => $1) limit $2)`,
      [olderThanHours, chunk],
    );
    purged += rowCount ?? 0;
    if ((rowCount ?? 0) < chunk) return purged;
  }
}

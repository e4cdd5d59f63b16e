/**
 * The relay's view of the write DB's outbox table. Rows are read only below the xmin horizon of
 * the current snapshot: every transaction with a smaller id has finished, so no row can still
 * appear there later. A sequence assigned before commit gives no such guarantee under concurrent
 * writers, which is why the seed systems skipped rows that committed late. For the same reason
 * what the relay has published is a prefix of (txid, id) order, recorded as marks: every row at or
 * below the latest mark (the view relay_cursor) is published.
 */
import type pg from 'pg';
import { EVENT_VERSION, onlyRow, prepared, type Envelope } from '@pulse/core';

export interface OutboxRow {
  id: string;
  position: string;
  type: string;
  version: number;
  tenant_id: string;
  aggregate_id: string;
  occurred_at: Date;
  created_at: Date;
  traceparent: string | null;
  payload: unknown;
  /** The payload's size as the byte limit counts it. */
  payload_bytes: number;
}

/** A position in (txid, id) order: where a read ended, or the end of the published prefix. */
export interface OutboxCursor {
  position: string;
  id: string;
}

/** How much one read may hold: at most `rows` rows, and no more payload than `bytes` after the first. */
export interface BatchLimit {
  rows: number;
  bytes: number;
}

/**
 * Whether rows below the horizon may remain after this read: it ended at the row limit, or its
 * payloads reached the byte limit (the row after them was left out). Otherwise the read took every
 * row that was final when it ran, and the next one can wait for a notification.
 */
export function mayHaveMore(rows: OutboxRow[], limit: BatchLimit): boolean {
  if (rows.length >= limit.rows) return true;
  return rows.reduce((bytes, row) => bytes + row.payload_bytes, 0) >= limit.bytes;
}

/**
 * The next committed rows in (txid, id) order after the cursor. Reading after a cursor is safe
 * because every row below the xmin horizon was already final when the rows up to the cursor were
 * read: a row that commits later has a larger txid. A row is read only if the
 * payloads before it in the batch stay under the byte limit, so the first row always is: one
 * event can be megabytes, and a row limit alone would let a backlog of large events fill the heap.
 */
export async function fetchCommittedBatch(
  db: pg.ClientBase,
  limit: BatchLimit,
  after: OutboxCursor,
): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    prepared(
      'relay.fetch-committed-batch',
      `select id, txid::text as position, type, version, tenant_id, aggregate_id, occurred_at, created_at,
            traceparent, payload, payload_bytes
       from (select id, txid, type, version, tenant_id, aggregate_id, occurred_at, created_at, traceparent, payload,
                    size.bytes as payload_bytes, sum(size.bytes) over (order by txid, id) - size.bytes as bytes_before
               from outbox, lateral (select octet_length(payload::text) as bytes) size
              where txid < pg_snapshot_xmin(pg_current_snapshot()) and (txid, id) > ($2::xid8, $3::uuid)
              order by txid, id
              limit $1) batch
      where bytes_before < $4
      order by txid, id`,
      [limit.rows, after.position, after.id, limit.bytes],
    ),
  );
  return rows;
}

export function toEnvelope(row: OutboxRow): Envelope {
  return {
    id: row.id,
    type: row.type as Envelope['type'],
    version: row.version || EVENT_VERSION,
    tenant_id: row.tenant_id,
    aggregate_id: row.aggregate_id,
    occurred_at: row.occurred_at.toISOString(),
    // The row's insert time inside its transaction: the commit follows within the same request.
    recorded_at: row.created_at.toISOString(),
    position: row.position,
    traceparent: row.traceparent,
    payload: row.payload,
  };
}

/** The end of the published prefix: where a new leader goes on from. */
export async function lastMark(db: pg.ClientBase | pg.Pool): Promise<OutboxCursor> {
  const { rows } = await db.query<OutboxCursor>(
    prepared('relay.last-mark', 'select txid::text as position, id from relay_cursor', []),
  );
  return onlyRow(rows);
}

/** Records that every row up to `upTo` is published. */
export async function markPublished(db: pg.ClientBase, upTo: OutboxCursor): Promise<void> {
  await db.query(
    prepared('relay.mark-published', 'insert into relay_marks (txid, id) values ($1::xid8, $2::uuid)', [
      upTo.position,
      upTo.id,
    ]),
  );
}

export interface RelayState {
  /** Seconds since the oldest unpublished row was written; 0 when there is none. */
  lagSeconds: number;
  unpublished: number;
}

/**
 * The relay stage as the operator and /sync-status see it. The mark is read first and sent as
 * values: compared with a subquery's result, the planner cannot tell how few rows follow the mark,
 * and scanned the whole outbox.
 */
export async function relayState(db: pg.ClientBase | pg.Pool): Promise<RelayState> {
  const mark = await lastMark(db);
  const { rows } = await db.query<RelayState>(
    `select coalesce(extract(epoch from clock_timestamp() - min(created_at))::float8, 0) as "lagSeconds",
            count(*)::int as unpublished
       from outbox where (txid, id) > ($1::xid8, $2::uuid)`,
    [mark.position, mark.id],
  );
  return rows[0] ?? { lagSeconds: 0, unpublished: 0 };
}

/** How much one purge may delete: rows per statement, and how long it goes on taking chunks. */
export interface PurgeLimit {
  chunk: number;
  budgetMs: number;
}

/**
 * Deletes published rows written before the retention, a chunk per statement, until a chunk comes
 * back short or the time budget is spent: one chunk per monitor round would fall behind any write
 * rate above a chunk per round. Then the marks older than the retention, all but the latest. The
 * rows are bounded by id: event ids are UUIDv7, whose first 48 bits are the millisecond they were
 * made, just before the row's insert. So every row due has an id below the first UUIDv7 of the
 * cutoff's millisecond, and the primary key finds them without a scan of the whole outbox (a day
 * of events by default). A writer whose clock runs ahead of the database's only has its rows kept
 * a little longer. A row not yet published stays, however old.
 */
export async function purgePublished(
  db: pg.ClientBase,
  retentionHours: number,
  limit: PurgeLimit = { chunk: 5_000, budgetMs: 2_000 },
): Promise<number> {
  const started = Date.now();
  let purged = 0;
  for (;;) {
    const { rowCount } = await db.query(
      prepared(
        'relay.purge-published',
        `delete from outbox where id in (
           select id from outbox
            where id < (lpad(to_hex((extract(epoch from now() - make_interval(hours => $1)) * 1000)::bigint), 12, '0')
                        || '70008000000000000000')::uuid
              and created_at < now() - make_interval(hours => $1)
              and (txid, id) <= (select txid, id from relay_cursor)
            limit $2)`,
        [retentionHours, limit.chunk],
      ),
    );
    purged += rowCount ?? 0;
    if ((rowCount ?? 0) < limit.chunk || Date.now() - started >= limit.budgetMs) break;
  }
  await db.query(
    prepared(
      'relay.purge-marks',
      `delete from relay_marks
        where marked_at < now() - make_interval(hours => $1) and (txid, id) < (select txid, id from relay_cursor)`,
      [retentionHours],
    ),
  );
  return purged;
}

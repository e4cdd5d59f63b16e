/** The transactional outbox: events written in the command's own transaction, relayed to Kafka later. */
import {
  OUTBOX_CHANNEL,
  EVENT_VERSION,
  newEventId,
  onlyRow,
  type EventPayload,
  type EventType,
  type Queryable,
} from '@pulse/core';
import type pg from 'pg';

export type PendingEvent = {
  [T in EventType]: {
    type: T;
    tenantId: string;
    aggregateId: string;
    occurredAt: string;
    payload: EventPayload<T>;
  };
}[EventType];

/** The command's idempotency record, stored with its events; see idempotency.ts for how it is read back. */
export interface CommandRecord {
  tenantId: string;
  key: string;
  requestHash: Buffer;
  status: number;
  body: Record<string, unknown>;
}

/**
 * Inserts the command's events and its idempotency record in one statement (one round trip), and
 * returns the transaction's id, which with the event count forms the command's position token.
 * `recorded` is false when the key is already taken by a committed command: the caller rolls
 * back and answers with that command's stored response. A statement of this kind waits for an
 * uncommitted holder of the same key, so the answer is never taken from a command that aborts.
 */
export async function appendEvents(
  tx: Queryable,
  events: PendingEvent[],
  traceparent: string | null,
  record: CommandRecord,
): Promise<{ txid: string; recorded: boolean }> {
  const { rows } = await tx.query<{ txid: string; recorded: boolean }>(
    `with appended as (
       insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, traceparent, payload)
       select id, type, $3, tenant_id, aggregate_id, occurred_at, $4, payload
       from unnest($1::uuid[], $2::text[], $5::uuid[], $6::uuid[], $7::timestamptz[], $8::jsonb[])
         as e(id, type, tenant_id, aggregate_id, occurred_at, payload)
     ), recorded as (
       insert into idempotency_keys (tenant_id, key, request_hash, status_code, response, events)
       values ($9, $10, $11, $12, $13, cardinality($1::uuid[]))
       on conflict (tenant_id, key) do nothing
       returning 1
     )
     select pg_current_xact_id()::text as txid, exists (select from recorded) as recorded`,
    [
      events.map(() => newEventId()),
      events.map((e) => e.type),
      EVENT_VERSION,
      traceparent,
      events.map((e) => e.tenantId),
      events.map((e) => e.aggregateId),
      events.map((e) => e.occurredAt),
      events.map((e) => JSON.stringify(e.payload)),
      record.tenantId,
      record.key,
      record.requestHash,
      record.status,
      record.body,
    ],
  );
  return onlyRow(rows);
}

/** The txid of the event that registered a service, so a repeated registration can name its position. */
export async function registrationTxid(tx: Queryable, serviceId: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ txid: string }>(
    `select txid::text from outbox where aggregate_id = $1 and type = 'service.registered' limit 1`,
    [serviceId],
  );
  return rows[0]?.txid;
}

/** Wakes the relay, which LISTENs on the channel; sent outside any command's transaction. */
export async function notifyRelay(db: pg.Pool): Promise<void> {
  await db.query('select pg_notify($1, $2)', [OUTBOX_CHANNEL, '']);
}

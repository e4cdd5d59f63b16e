/** The transactional outbox: events written in the command's own transaction, relayed to Kafka later. */
import {
  OUTBOX_CHANNEL,
  EVENT_VERSION,
  formatPosition,
  newEventId,
  onlyRow,
  prepared,
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

/** A command's idempotency record, stored with its events; see idempotency.ts for how it is read back. */
export interface CommandRecord {
  tenantId: string;
  key: string;
  requestHash: Buffer;
  status: number;
  body: Record<string, unknown>;
}

/** An event with the trace of the request that caused it. */
export interface TracedEvent {
  event: PendingEvent;
  traceparent: string | null;
}

/**
 * Inserts the events and the idempotency records of the transaction's commands in one statement
 * (one round trip). Returns the transaction's id, which with the event count forms the commands'
 * position token, and how many records were stored: fewer than given when a key is already taken
 * by a committed command, and the caller rolls back. A statement of this kind waits for an
 * uncommitted holder of the same key, so no answer is ever taken from a command that aborts.
 */
export async function appendEvents(
  tx: Queryable,
  events: TracedEvent[],
  records: CommandRecord[],
): Promise<{ txid: string; recorded: number }> {
  const { rows } = await tx.query<{ txid: string; recorded: number }>(
    prepared(
      'write.append-events',
      `with appended as (
       insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, traceparent, payload)
       select id, type, $3, tenant_id, aggregate_id, occurred_at, traceparent, payload
       from unnest($1::uuid[], $2::text[], $4::text[], $5::uuid[], $6::uuid[], $7::timestamptz[], $8::jsonb[])
         as e(id, type, traceparent, tenant_id, aggregate_id, occurred_at, payload)
     ), recorded as (
       insert into idempotency_keys (tenant_id, key, request_hash, status_code, response, events)
       select tenant_id, key, request_hash, status_code, response, cardinality($1::uuid[])
       from unnest($9::uuid[], $10::text[], $11::bytea[], $12::int[], $13::jsonb[])
         as r(tenant_id, key, request_hash, status_code, response)
       on conflict (tenant_id, key) do nothing
       returning 1
     )
     select pg_current_xact_id()::text as txid, (select count(*) from recorded)::int as recorded`,
      [
        events.map(() => newEventId()),
        events.map(({ event }) => event.type),
        EVENT_VERSION,
        events.map(({ traceparent }) => traceparent),
        events.map(({ event }) => event.tenantId),
        events.map(({ event }) => event.aggregateId),
        events.map(({ event }) => event.occurredAt),
        events.map(({ event }) => JSON.stringify(event.payload)),
        records.map((r) => r.tenantId),
        records.map((r) => r.key),
        records.map((r) => r.requestHash),
        records.map((r) => r.status),
        records.map((r) => JSON.stringify(r.body)),
      ],
    ),
  );
  return onlyRow(rows);
}

/**
 * The position of the transaction that committed each of these events, for those in the outbox:
 * its txid and its whole event count, as the commands of that transaction were answered.
 */
export async function committedEventPositions(db: pg.Pool, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; txid: string; events: number }>(
    prepared(
      'write.committed-event-positions',
      `select e.id::text, e.txid::text, (select count(*) from outbox t where t.txid = e.txid)::int as events
       from outbox e where e.id = any($1::uuid[])`,
      [ids],
    ),
  );
  return new Map(rows.map(({ id, txid, events }) => [id, formatPosition({ txid, events })]));
}

/** Wakes the relay, which LISTENs on the channel; sent outside any command's transaction. */
export async function notifyRelay(db: pg.Pool): Promise<void> {
  await db.query(prepared('write.notify-relay', 'select pg_notify($1, $2)', [OUTBOX_CHANNEL, '']));
}

/** The transactional outbox: events written in the command's own transaction, relayed to Kafka later. */
import {
  EVENT_VERSION,
  newEventId,
  onlyRow,
  type EventPayload,
  type EventType,
  type Queryable,
} from '@pulse/core';

export type PendingEvent = {
  [T in EventType]: {
    type: T;
    tenantId: string;
    aggregateId: string;
    occurredAt: string;
    payload: EventPayload<T>;
  };
}[EventType];

/**
 * Inserts the events in one statement and returns the transaction's id, which with the event
 * count forms the command's position token. A command without events still gets its txid.
 */
export async function appendEvents(
  tx: Queryable,
  events: PendingEvent[],
  traceparent: string | null,
): Promise<string> {
  if (events.length === 0) {
    const { rows } = await tx.query<{ txid: string }>('select pg_current_xact_id()::text as txid');
    return onlyRow(rows).txid;
  }
  const { rows } = await tx.query<{ txid: string }>(
    `insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, traceparent, payload)
     select id, type, $3, tenant_id, aggregate_id, occurred_at, $4, payload
     from unnest($1::uuid[], $2::text[], $5::uuid[], $6::uuid[], $7::timestamptz[], $8::jsonb[])
       as e(id, type, tenant_id, aggregate_id, occurred_at, payload)
     returning txid::text`,
    [
      events.map(() => newEventId()),
      events.map((e) => e.type),
      EVENT_VERSION,
      traceparent,
      events.map((e) => e.tenantId),
      events.map((e) => e.aggregateId),
      events.map((e) => e.occurredAt),
      events.map((e) => JSON.stringify(e.payload)),
    ],
  );
  return onlyRow(rows).txid;
}

/** The txid of the event that registered a service, so a repeated registration can name its position. */
export async function registrationTxid(tx: Queryable, serviceId: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ txid: string }>(
    `select txid::text from outbox where aggregate_id = $1 and type = 'service.registered' limit 1`,
    [serviceId],
  );
  return rows[0]?.txid;
}

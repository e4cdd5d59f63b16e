/**
 * A group of single-sample commands committed by one statement, outside BEGIN/COMMIT: their samples,
 * the event of each stored sample and the idempotency records of the clients' keys. One round trip instead of
 * four (BEGIN, the samples, the outbox and records, COMMIT), each of which waits for the CPU on a
 * busy machine. The rows are those of insertSystemSamples (metrics.ts) and appendEvents (outbox.ts),
 * and an event's payload is the one systemSampleEvents (domain.ts) builds from a stored row.
 */
import { EVENT_VERSION, onlyRow, prepared } from '@pulse/core';
import type pg from 'pg';
import {
  SAMPLE_ARRAYS,
  SAMPLE_COLUMNS,
  sampleParameters,
  STORE_INPUT_SAMPLES,
  utcText,
  type SystemSampleRow,
} from './metrics.js';

export interface SingleSampleCommand {
  tenantId: string;
  sample: SystemSampleRow;
  /** The id its event gets if its sample is stored. */
  eventId: string;
  /** The client's Idempotency-Key, recorded with the answer; none when the key was made here. */
  clientKey: { key: string; requestHash: Buffer } | undefined;
  traceparent: string | null;
  /** The answer a replay of its key gives. */
  status: number;
  body: Record<string, unknown>;
}

/**
 * Commits the commands and returns the transaction's id and its event count. A client's key already
 * taken fails the statement, as the records are inserted without ON CONFLICT.
 */
export async function commitSingleSamples(
  db: pg.Pool,
  commands: SingleSampleCommand[],
): Promise<{ txid: string; events: number }> {
  const keyed = commands.flatMap((command) =>
    command.clientKey ? [{ ...command, ...command.clientKey }] : [],
  );
  const { rows } = await db.query<{ txid: string; events: number }>(
    prepared(
      'write.commit-single-samples',
      `with input as (
       select * from unnest(${SAMPLE_ARRAYS}, $10::uuid[], $11::text[], $12::uuid[])
         with ordinality as i(${SAMPLE_COLUMNS}, tenant_id, traceparent, event_id, ordinal)
     ), ${STORE_INPUT_SAMPLES}, appended as (
       -- Of two commands with the same service and time, the first one's sample is the one stored.
       insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, traceparent, payload)
       select distinct on (s.service_id, s.observed_at)
              i.event_id, 'metrics.system.recorded', $13, i.tenant_id, s.service_id, s.observed_at, i.traceparent,
              jsonb_build_object('samples', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'observed_at', ${utcText('s.observed_at')},
                'cpu_usage', s.cpu_usage, 'memory_usage', s.memory_usage, 'disk_usage', s.disk_usage,
                'load_avg', s.load_avg, 'network_rx_bytes', s.network_rx_bytes,
                'network_tx_bytes', s.network_tx_bytes, 'gpu_usage', s.gpu_usage))))
       from stored s join input i using (service_id, observed_at)
       order by s.service_id, s.observed_at, i.ordinal
       returning 1
     ), recorded as (
       insert into idempotency_keys (tenant_id, key, request_hash, status_code, response, events)
       select tenant_id, key, request_hash, status_code, response, (select count(*) from appended)
       from unnest($14::uuid[], $15::text[], $16::bytea[], $17::int[], $18::jsonb[])
         as r(tenant_id, key, request_hash, status_code, response)
     )
     select pg_current_xact_id()::text as txid, (select count(*) from appended)::int as events`,
      [
        ...sampleParameters(commands.map(({ sample }) => sample)),
        commands.map((c) => c.tenantId),
        commands.map((c) => c.traceparent),
        commands.map((c) => c.eventId),
        EVENT_VERSION,
        keyed.map((c) => c.tenantId),
        keyed.map((c) => c.key),
        keyed.map((c) => c.requestHash),
        keyed.map((c) => c.status),
        keyed.map((c) => JSON.stringify(c.body)),
      ],
    ),
  );
  return onlyRow(rows);
}

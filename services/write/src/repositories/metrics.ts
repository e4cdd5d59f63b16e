/**
 * Sample inserts. A sample already stored (same service and time) is skipped, and only the rows this
 * statement inserted come back, in canonical form, so the event carries exactly what was committed
 * and a re-sent sample is never counted twice downstream.
 */
import { prepared, type ProcessSample, type Queryable, type SystemSample } from '@pulse/core';

/** A timestamptz column as the API's RFC 3339 text in UTC, with microseconds. */
export const utcText = (column: string) =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export type SystemSampleRow = SystemSample & { service_id: string };

/** A stored sample and the position of its row in the input. */
export interface StoredSystemSample {
  index: number;
  serviceId: string;
  sample: SystemSample;
}

/**
 * Samples as the first nine parameters of a statement: `SAMPLE_ARRAYS` unnests them into the CTE
 * `input` with more columns after them, and `STORE_INPUT_SAMPLES` is the CTE `stored` that inserts
 * them in their order and returns the rows inserted. The statements that write samples share them.
 */
export const SAMPLE_ARRAYS = `$1::uuid[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[],
                            $6::float8[], $7::bigint[], $8::bigint[], $9::float8[]`;
export const SAMPLE_COLUMNS = `service_id, observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
                              network_rx_bytes, network_tx_bytes, gpu_usage`;
export const STORE_INPUT_SAMPLES = `stored as (
       insert into system_metrics (${SAMPLE_COLUMNS})
       select ${SAMPLE_COLUMNS}
       from input order by ordinal
       on conflict do nothing
       returning *
     )`;
export const sampleParameters = (samples: SystemSampleRow[]) => [
  samples.map((s) => s.service_id),
  samples.map((s) => s.observed_at),
  samples.map((s) => s.cpu_usage),
  samples.map((s) => s.memory_usage),
  samples.map((s) => s.disk_usage),
  samples.map((s) => s.load_avg),
  samples.map((s) => s.network_rx_bytes),
  samples.map((s) => s.network_tx_bytes),
  samples.map((s) => s.gpu_usage ?? null),
];

/**
 * Inserts the samples in their order (of two with the same service and time, the first is stored)
 * and returns the stored ones in that order, each with its index in `samples`.
 */
export async function insertSystemSamples(
  tx: Queryable,
  samples: SystemSampleRow[],
): Promise<StoredSystemSample[]> {
  const { rows } = await tx.query<{
    index: number;
    service_id: string;
    observed_at: string;
    cpu_usage: number;
    memory_usage: number;
    disk_usage: number;
    load_avg: number;
    network_rx_bytes: string;
    network_tx_bytes: string;
    gpu_usage: number | null;
  }>(
    prepared(
      'write.insert-system-samples',
      `with input as (
       select * from unnest(${SAMPLE_ARRAYS}) with ordinality as i(${SAMPLE_COLUMNS}, ordinal)
     ), ${STORE_INPUT_SAMPLES}
     -- RETURNING cannot name the input row, so a stored row finds it by its key: the first input
     -- row with that key, as the one inserted.
     select index, service_id, ${utcText('observed_at')} as observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
            network_rx_bytes, network_tx_bytes, gpu_usage
     from (
       select distinct on (s.service_id, s.observed_at) (i.ordinal - 1)::int as index, s.*
       from stored s join input i using (service_id, observed_at)
       order by s.service_id, s.observed_at, i.ordinal
     ) matched
     order by index`,
      sampleParameters(samples),
    ),
  );
  return rows.map((row) => ({
    index: row.index,
    serviceId: row.service_id,
    sample: {
      observed_at: row.observed_at,
      cpu_usage: row.cpu_usage,
      memory_usage: row.memory_usage,
      disk_usage: row.disk_usage,
      load_avg: row.load_avg,
      // bigint arrives as text; the API bounds it to safe integers.
      network_rx_bytes: Number(row.network_rx_bytes),
      network_tx_bytes: Number(row.network_tx_bytes),
      ...(row.gpu_usage === null ? {} : { gpu_usage: row.gpu_usage }),
    },
  }));
}

export async function insertProcessSamples(
  tx: Queryable,
  serviceId: string,
  observedAt: string,
  processes: ProcessSample[],
): Promise<{ observed_at: string; processes: ProcessSample[] }> {
  const { rows } = await tx.query<ProcessSample & { observed_at: string }>(
    prepared(
      'write.insert-process-samples',
      `insert into process_metrics (service_id, observed_at, pid, process_name, cpu_usage, memory_usage)
     select $1, $2, * from unnest($3::int[], $4::text[], $5::float8[], $6::float8[])
     on conflict do nothing
     returning ${utcText('observed_at')} as observed_at, process_name, pid, cpu_usage, memory_usage`,
      [
        serviceId,
        observedAt,
        processes.map((p) => p.pid),
        processes.map((p) => p.process_name),
        processes.map((p) => p.cpu_usage),
        processes.map((p) => p.memory_usage),
      ],
    ),
  );
  const canonicalTime = rows[0]?.observed_at ?? new Date(observedAt).toISOString();
  return {
    observed_at: canonicalTime,
    processes: rows.map(({ process_name, pid, cpu_usage, memory_usage }) => ({
      process_name,
      pid,
      cpu_usage,
      memory_usage,
    })),
  };
}

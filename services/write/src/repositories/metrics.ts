/**
 * Sample inserts. A sample already stored (same service and time) is skipped, and RETURNING
 * yields only the rows this statement inserted, in canonical form, so the event carries exactly
 * what was committed and a re-sent sample is never counted twice downstream.
 */
import type { ProcessSample, Queryable, SystemSample } from '@pulse/core';

const UTC_TIME = `to_char(observed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export type SystemSampleRow = SystemSample & { service_id: string };

export async function insertSystemSamples(
  tx: Queryable,
  samples: SystemSampleRow[],
): Promise<{ serviceId: string; sample: SystemSample }[]> {
  const { rows } = await tx.query<{
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
    `insert into system_metrics (service_id, observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
                                 network_rx_bytes, network_tx_bytes, gpu_usage)
     select * from unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[],
                          $7::bigint[], $8::bigint[], $9::float8[])
     on conflict do nothing
     returning service_id, ${UTC_TIME} as observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
               network_rx_bytes, network_tx_bytes, gpu_usage`,
    [
      samples.map((s) => s.service_id),
      samples.map((s) => s.observed_at),
      samples.map((s) => s.cpu_usage),
      samples.map((s) => s.memory_usage),
      samples.map((s) => s.disk_usage),
      samples.map((s) => s.load_avg),
      samples.map((s) => s.network_rx_bytes),
      samples.map((s) => s.network_tx_bytes),
      samples.map((s) => s.gpu_usage ?? null),
    ],
  );
  return rows.map((row) => ({
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
    `insert into process_metrics (service_id, observed_at, pid, process_name, cpu_usage, memory_usage)
     select $1, $2, * from unnest($3::int[], $4::text[], $5::float8[], $6::float8[])
     on conflict do nothing
     returning ${UTC_TIME} as observed_at, process_name, pid, cpu_usage, memory_usage`,
    [
      serviceId,
      observedAt,
      processes.map((p) => p.pid),
      processes.map((p) => p.process_name),
      processes.map((p) => p.cpu_usage),
      processes.map((p) => p.memory_usage),
    ],
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

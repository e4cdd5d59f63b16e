/** metrics_latest, metrics_hourly and processes_latest of the projection DB. */
import type pg from 'pg';
import type { LatestMetrics } from '../schemas.js';

const LATEST_COLUMNS = `service_id, to_json(observed_at) #>> '{}' as observed_at, cpu_usage, memory_usage,
  disk_usage, load_avg, network_rx_bytes::float8 as network_rx_bytes,
  network_tx_bytes::float8 as network_tx_bytes, gpu_usage`;

export async function latestMetrics(
  db: pg.Pool,
  tenantId: string,
  serviceId: string,
): Promise<LatestMetrics | undefined> {
  const { rows } = await db.query<LatestMetrics>(
    `select ${LATEST_COLUMNS} from metrics_latest where tenant_id = $1 and service_id = $2`,
    [tenantId, serviceId],
  );
  return rows[0];
}

/** Ordered by service id; `after` is the last id of the previous page. */
export async function latestMetricsPage(
  db: pg.Pool,
  tenantId: string,
  after: string | undefined,
  limit: number,
): Promise<LatestMetrics[]> {
  const { rows } = await db.query<LatestMetrics>(
    `select ${LATEST_COLUMNS} from metrics_latest
      where tenant_id = $1 and ($2::uuid is null or service_id > $2::uuid)
      order by service_id limit $3`,
    [tenantId, after ?? null, limit],
  );
  return rows;
}

interface Stat {
  avg: number;
  min: number;
  max: number;
}

export interface HourlyBucket {
  hour: string;
  count: number;
  cpu_usage: Stat;
  memory_usage: Stat;
  disk_usage: Stat;
  load_avg: Stat;
  gpu_usage: (Stat & { count: number }) | null;
}

/** Buckets of the hours that overlap [from, to); avg = sum / count, so it is exact across batches. */
export async function hourlyBuckets(
  db: pg.Pool,
  tenantId: string,
  serviceId: string,
  from: Date,
  to: Date,
): Promise<HourlyBucket[]> {
  const { rows } = await db.query<HourlyBucket>(
    `select to_json(hour) #>> '{}' as hour, samples::int as count,
            json_build_object('avg', cpu_usage_sum / samples, 'min', cpu_usage_min, 'max', cpu_usage_max) as cpu_usage,
            json_build_object('avg', memory_usage_sum / samples, 'min', memory_usage_min, 'max', memory_usage_max)
              as memory_usage,
            json_build_object('avg', disk_usage_sum / samples, 'min', disk_usage_min, 'max', disk_usage_max)
              as disk_usage,
            json_build_object('avg', load_avg_sum / samples, 'min', load_avg_min, 'max', load_avg_max) as load_avg,
            case when gpu_usage_count = 0 then null else json_build_object('count', gpu_usage_count,
              'avg', gpu_usage_sum / gpu_usage_count, 'min', gpu_usage_min, 'max', gpu_usage_max) end as gpu_usage
       from metrics_hourly
      where tenant_id = $1 and service_id = $2 and hour >= date_trunc('hour', $3::timestamptz) and hour < $4
      order by hour`,
    [tenantId, serviceId, from, to],
  );
  return rows;
}

export interface ProcessRow {
  pid: number;
  process_name: string;
  cpu_usage: number;
  memory_usage: number;
  observed_at: string;
}

const PROCESS_ORDER = { cpu: 'cpu_usage desc, pid', memory: 'memory_usage desc, pid' } as const;

export async function topProcesses(
  db: pg.Pool,
  tenantId: string,
  serviceId: string,
  sort: keyof typeof PROCESS_ORDER,
  limit: number,
): Promise<ProcessRow[]> {
  const { rows } = await db.query<ProcessRow>(
    `select pid, process_name, cpu_usage, memory_usage, to_json(observed_at) #>> '{}' as observed_at
       from processes_latest where tenant_id = $1 and service_id = $2
      order by ${PROCESS_ORDER[sort]} limit $3`,
    [tenantId, serviceId, limit],
  );
  return rows;
}

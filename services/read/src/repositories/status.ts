/**
 * services_status: one row per service with its latest values, 1 h averages and open alert count.
 * Health depends on the clock (how old the last heartbeat is), so it is computed here, at read
 * time, against the tenant's heartbeat rule; it is computed in SQL so that filters and pages agree.
 */
import { DEFAULT_ALERT_RULES, onlyRow } from '@pulse/core';
import type pg from 'pg';
import type { Health, ServiceStatus } from '../schemas.js';

/** $1 is the tenant id; $2 the default heartbeat limit. Yields `status` rows with a `health` column. */
const STATUS_CTE = `
  rules as (
    select coalesce((select (rules ->> 'heartbeat_missing_seconds')::int from alert_rules where tenant_id = $1), $2)
           as missing_seconds
  ),
  status as (
    select s.*,
           case when s.last_heartbeat_at is null then 'unknown'
                when s.last_heartbeat_at < now() - make_interval(secs => rules.missing_seconds) then 'down'
                when s.open_alerts > 0 then 'degraded'
                else 'healthy' end as health
      from services_status s cross join rules
     where s.tenant_id = $1
  )`;

const STATUS_COLUMNS = `
  service_id as id, name, hostname, os, version, labels,
  to_json(registered_at) #>> '{}' as registered_at,
  to_json(last_heartbeat_at) #>> '{}' as last_heartbeat_at,
  health,
  case when latest_observed_at is null then null else json_build_object(
    'observed_at', to_json(latest_observed_at) #>> '{}',
    'cpu_usage', cpu_usage, 'memory_usage', memory_usage, 'disk_usage', disk_usage) end as latest,
  json_build_object('cpu_usage', cpu_usage_avg_1h, 'memory_usage', memory_usage_avg_1h,
    'disk_usage', disk_usage_avg_1h) as avg_1h,
  open_alerts`;

const HEARTBEAT_LIMIT = DEFAULT_ALERT_RULES.heartbeat_missing_seconds;

export interface ServiceFilter {
  labels?: Record<string, string> | undefined;
  health?: Health[] | undefined;
  /** The (name, id) of the last service of the previous page. */
  after?: [string, string] | undefined;
  limit: number;
}

/** Ordered by name then id; a service not yet registered (no name) sorts as the empty name. */
export async function listServices(
  db: pg.Pool,
  tenantId: string,
  filter: ServiceFilter,
): Promise<ServiceStatus[]> {
  const { rows } = await db.query<ServiceStatus>(
    `with ${STATUS_CTE}
     select ${STATUS_COLUMNS} from status
      where ($3::jsonb is null or labels @> $3::jsonb)
        and ($4::text[] is null or health = any($4::text[]))
        and ($5::text is null or (coalesce(name, ''), service_id) > ($5::text, $6::uuid))
      order by coalesce(name, ''), service_id
      limit $7`,
    [
      tenantId,
      HEARTBEAT_LIMIT,
      filter.labels ? JSON.stringify(filter.labels) : null,
      filter.health ?? null,
      filter.after?.[0] ?? null,
      filter.after?.[1] ?? null,
      filter.limit,
    ],
  );
  return rows;
}

export async function findService(
  db: pg.Pool,
  tenantId: string,
  serviceId: string,
): Promise<ServiceStatus | undefined> {
  const { rows } = await db.query<ServiceStatus>(
    `with ${STATUS_CTE} select ${STATUS_COLUMNS} from status where service_id = $3`,
    [tenantId, HEARTBEAT_LIMIT, serviceId],
  );
  return rows[0];
}

export async function serviceExists(db: pg.Pool, tenantId: string, serviceId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'select 1 from services_status where tenant_id = $1 and service_id = $2',
    [tenantId, serviceId],
  );
  return rowCount === 1;
}

export interface HealthSummary {
  total: number;
  by_health: Record<Health, number>;
  top_cpu: ServiceStatus[];
  top_memory: ServiceStatus[];
}

/**
 * The overview's service figures in one statement: counts by health and the busiest services.
 * Only the few top rows are turned into JSON; building it for every service of a large tenant
 * would cost more than the counting.
 */
export async function healthSummary(db: pg.Pool, tenantId: string, top: number): Promise<HealthSummary> {
  const { rows } = await db.query<HealthSummary>(
    `with ${STATUS_CTE},
     top_cpu as (select ${STATUS_COLUMNS}, cpu_usage as sort from status where cpu_usage is not null
                  order by cpu_usage desc, service_id limit $3),
     top_memory as (select ${STATUS_COLUMNS}, memory_usage as sort from status where memory_usage is not null
                     order by memory_usage desc, service_id limit $3)
     select count(*)::int as total,
            json_build_object(
              'healthy', count(*) filter (where health = 'healthy'),
              'degraded', count(*) filter (where health = 'degraded'),
              'down', count(*) filter (where health = 'down'),
              'unknown', count(*) filter (where health = 'unknown')) as by_health,
            (select coalesce(json_agg(to_jsonb(t) - 'sort' order by sort desc, id), '[]') from top_cpu t) as top_cpu,
            (select coalesce(json_agg(to_jsonb(t) - 'sort' order by sort desc, id), '[]') from top_memory t)
              as top_memory
       from status`,
    [tenantId, HEARTBEAT_LIMIT, top],
  );
  return onlyRow(rows);
}

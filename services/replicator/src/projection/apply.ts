/**
 * Applies a batch of events to the projection database inside the caller's transaction: records
 * the event ids (skipping any already applied), then merges the batch's folded changes, then
 * re-evaluates the alerts of the services it touched. The caller stores the next offsets in the
 * same transaction, so the batch has its effect exactly once.
 */
import {
  DEFAULT_ALERT_RULES,
  prepared,
  type AlertRules,
  type AnyEvent,
  type SystemSample,
} from '@pulse/core';
import type pg from 'pg';
import { evaluateThresholds, severityOf } from './alerts.js';
import { foldEvents, GAUGES, type ProjectionChanges } from './fold.js';

type Client = pg.ClientBase;

export interface ApplyResult {
  applied: AnyEvent[];
  duplicates: number;
}

export async function applyEvents(client: Client, events: AnyEvent[]): Promise<ApplyResult> {
  if (events.length === 0) return { applied: [], duplicates: 0 };
  // An event redelivered within one batch counts once too: keep its first copy.
  const unique = [...new Map(events.map((event) => [event.id, event])).values()];
  const fresh = await recordAppliedEvents(client, unique);
  const applied = unique.filter((event) => fresh.has(event.id));
  await applyChanges(client, foldEvents(applied));
  return { applied, duplicates: events.length - applied.length };
}

/** Merges folded changes into the projections; also what a backfill from the write DB applies. */
export async function applyChanges(client: Client, changes: ProjectionChanges): Promise<void> {
  await upsertRegistrations(client, changes);
  await upsertAlertRules(client, changes);
  const heartbeatAlertsResolved = await upsertHeartbeats(client, changes);
  await upsertSamples(client, changes);
  await replaceProcesses(client, changes);
  const refreshed = await refreshStatus(client, changes);
  const alertsChanged = await evaluateAlerts(client, [
    ...refreshed,
    ...(await latestOfRulesChanged(client, changes)),
  ]);
  // Counted again only where an alert opened or resolved: most batches change none, and a count
  // rewritten unchanged would still be a new version of every status row the batch touched.
  const counts = new Set([...heartbeatAlertsResolved, ...alertsChanged]);
  if (counts.size > 0) await refreshOpenAlertCounts(client, [...counts]);
}

const json = (rows: unknown[]) => JSON.stringify(rows);

/**
 * Records the events as applied and returns the ids whose effects must be applied now: not seen
 * before, and not already part of a backfill from the write DB (see backfill_snapshot).
 */
async function recordAppliedEvents(client: Client, events: AnyEvent[]): Promise<Set<string>> {
  const { rows } = await client.query<{ event_id: string; in_backfill: boolean }>(
    prepared(
      'projection.record-applied-events',
      `insert into applied_events (event_id, tenant_id, position, recorded_at)
     select event_id, tenant_id, position::xid8, recorded_at
       from jsonb_to_recordset($1::jsonb) as r(event_id uuid, tenant_id uuid, position text, recorded_at timestamptz)
     on conflict (event_id) do nothing
     returning event_id,
       coalesce(pg_visible_in_snapshot(position, (select snapshot from backfill_snapshot)), false) as in_backfill`,
      [
        json(
          events.map((e) => ({
            event_id: e.id,
            tenant_id: e.tenant_id,
            position: e.position,
            recorded_at: e.recorded_at,
          })),
        ),
      ],
    ),
  );
  return new Set(rows.filter((row) => !row.in_backfill).map((row) => row.event_id));
}

async function upsertRegistrations(client: Client, changes: ProjectionChanges): Promise<void> {
  if (changes.registrations.size === 0) return;
  const rows = [...changes.registrations.values()].map((r) => ({
    service_id: r.serviceId,
    tenant_id: r.tenantId,
    name: r.name,
    hostname: r.hostname,
    os: r.os,
    version: r.version,
    labels: r.labels,
    registered_at: r.registered_at,
  }));
  await client.query(
    prepared(
      'projection.upsert-registrations',
      `insert into services_status (service_id, tenant_id, name, hostname, os, version, labels, registered_at)
     select * from jsonb_to_recordset($1::jsonb) as r(service_id uuid, tenant_id uuid, name text, hostname text,
       os text, version text, labels jsonb, registered_at timestamptz)
     on conflict (service_id) do update set name = excluded.name, hostname = excluded.hostname, os = excluded.os,
       version = excluded.version, labels = excluded.labels, registered_at = excluded.registered_at, updated_at = now()`,
      [json(rows)],
    ),
  );
}

async function upsertAlertRules(client: Client, changes: ProjectionChanges): Promise<void> {
  if (changes.alertRules.size === 0) return;
  const rows = [...changes.alertRules.entries()].map(([tenant_id, rules]) => ({ tenant_id, rules }));
  await client.query(
    prepared(
      'projection.upsert-alert-rules',
      `insert into alert_rules (tenant_id, rules)
     select * from jsonb_to_recordset($1::jsonb) as r(tenant_id uuid, rules jsonb)
     on conflict (tenant_id) do update set rules = excluded.rules`,
      [json(rows)],
    ),
  );
}

/**
 * A heartbeat can arrive before its service's registration is applied (rebuild from the write DB).
 * A sample's status row is made by refreshStatus.
 */
async function ensureStatusRows(client: Client, services: Map<string, string>): Promise<void> {
  if (services.size === 0) return;
  const rows = [...services.entries()].map(([service_id, tenant_id]) => ({ service_id, tenant_id }));
  await client.query(
    prepared(
      'projection.ensure-status-rows',
      `insert into services_status (service_id, tenant_id)
     select * from jsonb_to_recordset($1::jsonb) as r(service_id uuid, tenant_id uuid)
     on conflict (service_id) do nothing`,
      [json(rows)],
    ),
  );
}

/** Returns the services whose missing-heartbeat alert a heartbeat resolved. */
async function upsertHeartbeats(client: Client, changes: ProjectionChanges): Promise<string[]> {
  if (changes.heartbeats.size === 0) return [];
  await ensureStatusRows(client, new Map([...changes.heartbeats].map(([id, h]) => [id, h.tenantId])));
  const rows = [...changes.heartbeats.entries()].map(([service_id, h]) => ({
    service_id,
    observed_at: h.observedAt,
  }));
  await client.query(
    prepared(
      'projection.move-heartbeats',
      `update services_status s
        set last_heartbeat_at = greatest(s.last_heartbeat_at, r.observed_at), updated_at = now()
       from jsonb_to_recordset($1::jsonb) as r(service_id uuid, observed_at timestamptz)
      where s.service_id = r.service_id`,
      [json(rows)],
    ),
  );
  // A heartbeat ends a missing-heartbeat alert.
  const resolved = await client.query<{ service_id: string }>(
    prepared(
      'projection.resolve-heartbeat-alerts',
      `update alerts a set state = 'resolved', resolved_at = r.observed_at
       from jsonb_to_recordset($1::jsonb) as r(service_id uuid, observed_at timestamptz)
      where a.service_id = r.service_id and a.rule = 'heartbeat' and a.state = 'open'
      returning a.service_id`,
      [json(rows)],
    ),
  );
  return resolved.rows.map((row) => row.service_id);
}

/** The newest sample of each service, kept only where it is newer than the stored one. */
const UPSERT_LATEST = `insert into metrics_latest (service_id, tenant_id, observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
       network_rx_bytes, network_tx_bytes, gpu_usage)
     select service_id, tenant_id, observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
            network_rx_bytes, network_tx_bytes, gpu_usage
       from jsonb_to_recordset($1::jsonb) as r(service_id uuid, tenant_id uuid, observed_at timestamptz,
         cpu_usage float8, memory_usage float8, disk_usage float8, load_avg float8, network_rx_bytes bigint,
         network_tx_bytes bigint, gpu_usage float8)
     on conflict (service_id) do update set observed_at = excluded.observed_at, cpu_usage = excluded.cpu_usage,
       memory_usage = excluded.memory_usage, disk_usage = excluded.disk_usage, load_avg = excluded.load_avg,
       network_rx_bytes = excluded.network_rx_bytes, network_tx_bytes = excluded.network_tx_bytes,
       gpu_usage = excluded.gpu_usage
     where excluded.observed_at > metrics_latest.observed_at`;

const REQUIRED_GAUGES = GAUGES.filter((gauge) => gauge !== 'gpu_usage');

const STAT_COLUMNS = GAUGES.flatMap((g) => [`${g}_sum`, `${g}_min`, `${g}_max`]);
const MERGE_HOURLY = [
  'samples = metrics_hourly.samples + excluded.samples',
  'gpu_usage_count = metrics_hourly.gpu_usage_count + excluded.gpu_usage_count',
  ...REQUIRED_GAUGES.map((g) => `${g}_sum = metrics_hourly.${g}_sum + excluded.${g}_sum`),
  // The optional gauge's sum stays null until a sample carries it.
  `gpu_usage_sum = case when metrics_hourly.gpu_usage_sum is null and excluded.gpu_usage_sum is null then null
     else coalesce(metrics_hourly.gpu_usage_sum, 0) + coalesce(excluded.gpu_usage_sum, 0) end`,
  // least/greatest ignore nulls.
  ...GAUGES.flatMap((g) => [
    `${g}_min = least(metrics_hourly.${g}_min, excluded.${g}_min)`,
    `${g}_max = greatest(metrics_hourly.${g}_max, excluded.${g}_max)`,
  ]),
];
const UPSERT_HOURLY = `insert into metrics_hourly (service_id, tenant_id, hour, samples, gpu_usage_count, ${STAT_COLUMNS.join(', ')})
   select service_id, tenant_id, hour, samples, gpu_usage_count, ${STAT_COLUMNS.join(', ')}
     from jsonb_to_recordset($2::jsonb) as r(service_id uuid, tenant_id uuid, hour timestamptz, samples bigint,
       gpu_usage_count bigint, ${STAT_COLUMNS.map((c) => `${c} float8`).join(', ')})
   on conflict (service_id, hour) do update set ${MERGE_HOURLY.join(', ')}`;
/**
 * Both in one statement, a round trip fewer per transaction: they write different tables and
 * neither reads what the other writes. Built once at load, as a prepared statement has one text.
 */
const UPSERT_SAMPLES = `with latest as (${UPSERT_LATEST}) ${UPSERT_HOURLY}`;

/** Merges the samples' latest values and hourly statistics. */
async function upsertSamples(client: Client, changes: ProjectionChanges): Promise<void> {
  if (changes.latest.size === 0 && changes.hourly.size === 0) return;
  const latest = [...changes.latest.values()].map(({ serviceId, tenantId, sample }) => ({
    service_id: serviceId,
    tenant_id: tenantId,
    ...sample,
    gpu_usage: sample.gpu_usage ?? null,
  }));
  const hourly = [...changes.hourly.values()].map((bucket) => {
    const row: Record<string, unknown> = {
      service_id: bucket.serviceId,
      tenant_id: bucket.tenantId,
      hour: bucket.hour,
      samples: bucket.samples,
      gpu_usage_count: bucket.gauges.gpu_usage?.count ?? 0,
    };
    for (const gauge of GAUGES) {
      const stats = bucket.gauges[gauge];
      row[`${gauge}_sum`] = stats?.sum ?? null;
      row[`${gauge}_min`] = stats?.min ?? null;
      row[`${gauge}_max`] = stats?.max ?? null;
    }
    return row;
  });
  await client.query(prepared('projection.upsert-samples', UPSERT_SAMPLES, [json(latest), json(hourly)]));
}

async function replaceProcesses(client: Client, changes: ProjectionChanges): Promise<void> {
  for (const snapshot of changes.processes.values()) {
    // Only a snapshot at least as new as the stored one replaces it (an older one arriving late is ignored).
    const { rows } = await client.query<{ newer: boolean }>(
      prepared(
        'projection.processes-newer',
        `select coalesce(max(observed_at) <= $2::timestamptz, true) as newer from processes_latest where service_id = $1`,
        [snapshot.serviceId, snapshot.observedAt],
      ),
    );
    if (!rows[0]?.newer) continue;
    await client.query(
      prepared('projection.delete-processes', 'delete from processes_latest where service_id = $1', [
        snapshot.serviceId,
      ]),
    );
    await client.query(
      prepared(
        'projection.insert-processes',
        `insert into processes_latest (service_id, pid, tenant_id, observed_at, process_name, cpu_usage, memory_usage)
       select $1, pid, $2, $3, process_name, cpu_usage, memory_usage
         from jsonb_to_recordset($4::jsonb) as r(pid int, process_name text, cpu_usage float8, memory_usage float8)
       on conflict (service_id, pid) do update set process_name = excluded.process_name,
         cpu_usage = excluded.cpu_usage, memory_usage = excluded.memory_usage`,
        [snapshot.serviceId, snapshot.tenantId, snapshot.observedAt, json(snapshot.processes)],
      ),
    );
  }
}

interface LatestRow extends SystemSample {
  service_id: string;
  tenant_id: string;
  rules: AlertRules | null;
  /** The rules with an open alert for the service. */
  open_rules: string[];
}
type LatestRead = LatestRow & { observed_at: Date };

/**
 * A service's latest values with its tenant's rules and its open alerts: what evaluateAlerts reads.
 * Columns named, not m.*: a prepared statement fails once a column added by a newer replicator's
 * migration changes its result, until this process restarts.
 */
const LATEST_WITH_RULES = `select m.service_id, m.tenant_id, m.observed_at, m.cpu_usage, m.memory_usage, m.disk_usage,
       m.load_avg, m.network_rx_bytes, m.network_tx_bytes, m.gpu_usage, r.rules,
       array(select a.rule from alerts a where a.service_id = m.service_id and a.state = 'open') as open_rules
  from metrics_latest m left join alert_rules r on r.tenant_id = m.tenant_id`;

/**
 * Copies latest values and the 1 h averages of the latest sample's hour into services_status (its
 * row made if the registration is not applied yet), and returns those services' latest values with
 * their rules, all in one statement. The final select reads metrics_latest, which this statement
 * does not write, so it sees the samples the transaction merged before.
 */
async function refreshStatus(client: Client, changes: ProjectionChanges): Promise<LatestRead[]> {
  if (changes.latest.size === 0) return [];
  const { rows } = await client.query<LatestRead>(
    prepared(
      'projection.refresh-status',
      `with status as (
         insert into services_status (service_id, tenant_id, latest_observed_at, cpu_usage, memory_usage, disk_usage,
                                      cpu_usage_avg_1h, memory_usage_avg_1h, disk_usage_avg_1h)
         select m.service_id, m.tenant_id, m.observed_at, m.cpu_usage, m.memory_usage, m.disk_usage,
                h.cpu_usage_sum / h.samples, h.memory_usage_sum / h.samples, h.disk_usage_sum / h.samples
           from metrics_latest m
           left join metrics_hourly h on h.service_id = m.service_id and h.hour = date_trunc('hour', m.observed_at, 'UTC')
          where m.service_id = any($1::uuid[])
         on conflict (service_id) do update set latest_observed_at = excluded.latest_observed_at,
           cpu_usage = excluded.cpu_usage, memory_usage = excluded.memory_usage, disk_usage = excluded.disk_usage,
           cpu_usage_avg_1h = excluded.cpu_usage_avg_1h, memory_usage_avg_1h = excluded.memory_usage_avg_1h,
           disk_usage_avg_1h = excluded.disk_usage_avg_1h, updated_at = now()
       )
       ${LATEST_WITH_RULES}
        where m.service_id = any($1::uuid[])`,
      [[...changes.latest.keys()]],
    ),
  );
  return rows;
}

/** The latest values of every other service of a tenant whose rules changed: each is evaluated anew. */
async function latestOfRulesChanged(client: Client, changes: ProjectionChanges): Promise<LatestRead[]> {
  if (changes.alertRules.size === 0) return [];
  const { rows } = await client.query<LatestRead>(
    prepared(
      'projection.latest-of-tenants',
      `${LATEST_WITH_RULES}
        where m.tenant_id = any($1::uuid[]) and not (m.service_id = any($2::uuid[]))`,
      [[...changes.alertRules.keys()], [...changes.latest.keys()]],
    ),
  );
  return rows;
}

/**
 * Opens the alerts of breached rules and resolves those of rules no longer breached, as the open
 * alerts read with the latest values show them; returns the services whose alerts changed. The
 * writes keep their own guards (one open alert per rule, resolve only an open one) for a dead
 * letter replayed beside the service's projector.
 */
async function evaluateAlerts(client: Client, rows: LatestRead[]): Promise<string[]> {
  const open: Record<string, unknown>[] = [];
  const resolve: Record<string, unknown>[] = [];
  for (const row of rows) {
    const observedAt = row.observed_at.toISOString();
    const openRules = new Set(row.open_rules);
    for (const verdict of evaluateThresholds(
      { ...row, observed_at: observedAt },
      row.rules ?? DEFAULT_ALERT_RULES,
    )) {
      // A verdict that keeps the alert's state as it is writes nothing.
      if (verdict.breached === openRules.has(verdict.rule)) continue;
      const key = { service_id: row.service_id, rule: verdict.rule, at: observedAt };
      if (verdict.breached) {
        open.push({
          ...key,
          tenant_id: row.tenant_id,
          severity: severityOf(verdict),
          value: verdict.value,
          threshold: verdict.threshold,
        });
      } else {
        resolve.push(key);
      }
    }
  }
  const changed = new Set<string>();
  if (open.length > 0) {
    const opened = await client.query<{ service_id: string }>(
      prepared(
        'projection.open-alerts',
        `insert into alerts (tenant_id, service_id, rule, severity, state, value, threshold, opened_at)
     select tenant_id, service_id, rule, severity, 'open', value, threshold, at
       from jsonb_to_recordset($1::jsonb) as r(tenant_id uuid, service_id uuid, rule text, severity text,
         value float8, threshold float8, at timestamptz)
     on conflict (service_id, rule) where state = 'open' do nothing
     returning service_id`,
        [json(open)],
      ),
    );
    for (const row of opened.rows) changed.add(row.service_id);
  }
  if (resolve.length > 0) {
    const resolved = await client.query<{ service_id: string }>(
      prepared(
        'projection.resolve-alerts',
        `update alerts a set state = 'resolved', resolved_at = r.at
       from jsonb_to_recordset($1::jsonb) as r(service_id uuid, rule text, at timestamptz)
      where a.service_id = r.service_id and a.rule = r.rule and a.state = 'open'
      returning a.service_id`,
        [json(resolve)],
      ),
    );
    for (const row of resolved.rows) changed.add(row.service_id);
  }
  return [...changed];
}

export async function refreshOpenAlertCounts(client: Client, serviceIds: string[]): Promise<void> {
  await client.query(
    prepared(
      'projection.refresh-open-alert-counts',
      `update services_status s
        set open_alerts = (select count(*) from alerts a where a.service_id = s.service_id and a.state = 'open')
      where s.service_id = any($1::uuid[])`,
      [serviceIds],
    ),
  );
}

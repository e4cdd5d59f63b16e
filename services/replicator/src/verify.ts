/**
 * Reconciles the write DB (the truth) with the projections for one tenant and time range:
 * count, sum, min and max per service per hour and gauge, the latest sample per service, the
 * open threshold alerts that the latest samples imply, and per service its registration, its
 * latest heartbeat and its latest process list. Every difference is reported.
 */
import { DEFAULT_ALERT_RULES, groupBy, type AlertRules } from '@pulse/core';
import type pg from 'pg';
import { evaluateThresholds } from './projection/alerts.js';

export interface VerifyScope {
  tenantId: string;
  from: Date;
  to: Date;
}

export interface Difference {
  what: string;
  key: string;
  write: unknown;
  projection: unknown;
}

const GAUGES = ['cpu_usage', 'memory_usage', 'disk_usage', 'load_avg'] as const;

/** Float sums differ in the last bits with summation order; anything beyond that is a real difference. */
const sameNumber = (a: number | null, b: number | null): boolean =>
  a === b || (a !== null && b !== null && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)));

type HourlyRow = { service_id: string; hour: Date; samples: string } & Record<
  string,
  number | string | Date | null
>;

export async function verifyTenant(
  writeDb: pg.ClientBase,
  projectionDb: pg.ClientBase,
  scope: VerifyScope,
): Promise<Difference[]> {
  const differences: Difference[] = [];
  const aggregates = GAUGES.flatMap((g) => [
    `sum(${g}) as ${g}_sum`,
    `min(${g}) as ${g}_min`,
    `max(${g}) as ${g}_max`,
  ]);
  const { rows: written } = await writeDb.query<HourlyRow>(
    `select m.service_id::text, date_trunc('hour', m.observed_at, 'UTC') as hour, count(*) as samples, ${aggregates.join(', ')}
       from system_metrics m join services s on s.id = m.service_id
      where s.tenant_id = $1 and m.observed_at >= $2 and m.observed_at < $3
      group by 1, 2`,
    [scope.tenantId, scope.from, scope.to],
  );
  const { rows: projected } = await projectionDb.query<HourlyRow>(
    `select service_id::text, hour, samples, ${GAUGES.flatMap((g) => [`${g}_sum`, `${g}_min`, `${g}_max`]).join(', ')}
       from metrics_hourly where tenant_id = $1 and hour >= date_trunc('hour', $2::timestamptz, 'UTC') and hour < $3`,
    [scope.tenantId, scope.from, scope.to],
  );
  const keyOf = (row: HourlyRow) => `${row.service_id} ${row.hour.toISOString()}`;
  const projectedByKey = new Map(projected.map((row) => [keyOf(row), row]));
  for (const row of written) {
    const key = keyOf(row);
    const other = projectedByKey.get(key);
    projectedByKey.delete(key);
    if (!other) {
      differences.push({ what: 'hourly bucket missing', key, write: Number(row.samples), projection: null });
      continue;
    }
    if (Number(row.samples) !== Number(other.samples)) {
      differences.push({
        what: 'hourly count',
        key,
        write: Number(row.samples),
        projection: Number(other.samples),
      });
    }
    for (const column of GAUGES.flatMap((g) => [`${g}_sum`, `${g}_min`, `${g}_max`])) {
      const a = row[column] as number | null;
      const b = other[column] as number | null;
      if (!sameNumber(a, b)) differences.push({ what: `hourly ${column}`, key, write: a, projection: b });
    }
  }
  for (const [key, row] of projectedByKey) {
    differences.push({
      what: 'hourly bucket not in the write DB',
      key,
      write: null,
      projection: Number(row.samples),
    });
  }
  differences.push(...(await verifyLatest(writeDb, projectionDb, scope.tenantId)));
  differences.push(...(await verifyServices(writeDb, projectionDb, scope.tenantId)));
  differences.push(...(await verifyProcesses(writeDb, projectionDb, scope.tenantId)));
  return differences;
}

interface LatestRow {
  service_id: string;
  observed_at: Date;
  cpu_usage: number;
  memory_usage: number;
  disk_usage: number;
}

async function verifyLatest(
  writeDb: pg.ClientBase,
  projectionDb: pg.ClientBase,
  tenantId: string,
): Promise<Difference[]> {
  const differences: Difference[] = [];
  const { rows: written } = await writeDb.query<LatestRow>(
    `select distinct on (m.service_id) m.service_id::text, m.observed_at, m.cpu_usage, m.memory_usage, m.disk_usage
       from system_metrics m join services s on s.id = m.service_id
      where s.tenant_id = $1 order by m.service_id, m.observed_at desc`,
    [tenantId],
  );
  const { rows: projected } = await projectionDb.query<LatestRow>(
    'select service_id::text, observed_at, cpu_usage, memory_usage, disk_usage from metrics_latest where tenant_id = $1',
    [tenantId],
  );
  const { rows: ruleRows } = await writeDb.query<{ alert_rules: AlertRules }>(
    'select alert_rules from tenants where id = $1',
    [tenantId],
  );
  const rules = ruleRows[0]?.alert_rules ?? DEFAULT_ALERT_RULES;
  const { rows: openAlerts } = await projectionDb.query<{ service_id: string; rule: string }>(
    `select service_id::text, rule from alerts where tenant_id = $1 and state = 'open' and rule <> 'heartbeat'`,
    [tenantId],
  );
  const open = new Set(openAlerts.map((a) => `${a.service_id} ${a.rule}`));
  const projectedById = new Map(projected.map((row) => [row.service_id, row]));
  for (const row of written) {
    const other = projectedById.get(row.service_id);
    if (other?.observed_at.getTime() !== row.observed_at.getTime() || other.cpu_usage !== row.cpu_usage) {
      differences.push({
        what: 'latest sample',
        key: row.service_id,
        write: { observed_at: row.observed_at.toISOString(), cpu_usage: row.cpu_usage },
        projection: other
          ? { observed_at: other.observed_at.toISOString(), cpu_usage: other.cpu_usage }
          : null,
      });
    }
    const sample = {
      ...row,
      observed_at: row.observed_at.toISOString(),
      load_avg: 0,
      network_rx_bytes: 0,
      network_tx_bytes: 0,
    };
    for (const verdict of evaluateThresholds(sample, rules)) {
      const key = `${row.service_id} ${verdict.rule}`;
      if (verdict.breached !== open.has(key)) {
        differences.push({ what: 'open alert', key, write: verdict.breached, projection: open.has(key) });
      }
    }
  }
  return differences;
}

interface ServiceRow {
  id: string;
  name: string | null;
  hostname: string | null;
  last_heartbeat_at: Date | null;
}

/** Every registered service has a status row with its name, hostname and latest heartbeat. */
async function verifyServices(
  writeDb: pg.ClientBase,
  projectionDb: pg.ClientBase,
  tenantId: string,
): Promise<Difference[]> {
  const { rows: written } = await writeDb.query<ServiceRow>(
    'select id::text, name, hostname, last_heartbeat_at from services where tenant_id = $1',
    [tenantId],
  );
  const { rows: projected } = await projectionDb.query<ServiceRow>(
    'select service_id::text as id, name, hostname, last_heartbeat_at from services_status where tenant_id = $1',
    [tenantId],
  );
  const describe = (row: ServiceRow | undefined) =>
    row
      ? {
          name: row.name,
          hostname: row.hostname,
          last_heartbeat_at: row.last_heartbeat_at?.toISOString() ?? null,
        }
      : null;
  const projectedById = new Map(projected.map((row) => [row.id, row]));
  const differences: Difference[] = [];
  for (const row of written) {
    const other = projectedById.get(row.id);
    projectedById.delete(row.id);
    if (JSON.stringify(describe(row)) !== JSON.stringify(describe(other)))
      differences.push({ what: 'service', key: row.id, write: describe(row), projection: describe(other) });
  }
  for (const [id, row] of projectedById)
    differences.push({
      what: 'service not in the write DB',
      key: id,
      write: null,
      projection: describe(row),
    });
  return differences;
}

interface ProcessRow {
  service_id: string;
  observed_at: Date;
  pid: number;
  process_name: string;
  cpu_usage: number;
  memory_usage: number;
}

/** The projection's process list of each service is the newest snapshot in the write DB. */
async function verifyProcesses(
  writeDb: pg.ClientBase,
  projectionDb: pg.ClientBase,
  tenantId: string,
): Promise<Difference[]> {
  const columns = 'observed_at, pid, process_name, cpu_usage, memory_usage';
  const { rows: written } = await writeDb.query<ProcessRow>(
    `select p.service_id::text, ${columns
      .split(', ')
      .map((c) => `p.${c}`)
      .join(', ')}
       from process_metrics p join services s on s.id = p.service_id
      where s.tenant_id = $1
        and p.observed_at = (select max(observed_at) from process_metrics where service_id = p.service_id)`,
    [tenantId],
  );
  const { rows: projected } = await projectionDb.query<ProcessRow>(
    `select service_id::text, ${columns} from processes_latest where tenant_id = $1`,
    [tenantId],
  );
  const snapshots = (rows: ProcessRow[]) =>
    new Map(
      [...groupBy(rows, (row) => row.service_id)].map(([id, ofService]) => [
        id,
        ofService
          .map((row) =>
            JSON.stringify([
              row.observed_at.toISOString(),
              row.pid,
              row.process_name,
              row.cpu_usage,
              row.memory_usage,
            ]),
          )
          .sort()
          .join('\n'),
      ]),
    );
  const writeSnapshots = snapshots(written);
  const projectionSnapshots = snapshots(projected);
  const differences: Difference[] = [];
  for (const id of new Set([...writeSnapshots.keys(), ...projectionSnapshots.keys()])) {
    const a = writeSnapshots.get(id) ?? null;
    const b = projectionSnapshots.get(id) ?? null;
    if (a !== b) differences.push({ what: 'latest processes', key: id, write: a, projection: b });
  }
  return differences;
}

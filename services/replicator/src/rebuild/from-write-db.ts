/**
 * Rebuild by backfilling from the write DB, for when Kafka no longer holds every event. The
 * backfill reads one snapshot S of the write DB; the live offsets O are read before S is taken,
 * so every event before O is in S. The shadow starts at O, with the event ids applied before O,
 * and remembers S: the projector skips (records, but does not apply) the events of transactions
 * visible in S, and applies the rest.
 */
import pg from 'pg';
import {
  EVENT_VERSION,
  newEventId,
  type AlertRules,
  type AnyEvent,
  type EventPayload,
  type EventType,
  type Logger,
  type SystemSample,
} from '@pulse/core';
import type { ReplicatorConfig } from '../config.js';
import { applyChanges } from '../projection/apply.js';
import { foldEvents } from '../projection/fold.js';
import { inSchema, prepareShadow, SHADOW_SCHEMA, swapIn } from './shadow.js';

const SAMPLE_CHUNK = 5_000;

function synthetic<T extends EventType>(
  type: T,
  tenantId: string,
  aggregateId: string,
  payload: EventPayload<T>,
): AnyEvent {
  const now = new Date().toISOString();
  return {
    id: newEventId(),
    type,
    version: EVENT_VERSION,
    tenant_id: tenantId,
    aggregate_id: aggregateId,
    occurred_at: now,
    recorded_at: now,
    position: '0',
    traceparent: null,
    payload,
  } as AnyEvent;
}

const iso = (value: Date | null): string | null => value?.toISOString() ?? null;

interface ServiceRow {
  id: string;
  tenant_id: string;
  name: string;
  hostname: string;
  os: string | null;
  version: string | null;
  labels: Record<string, string>;
  registered_at: Date;
  last_heartbeat_at: Date | null;
}

interface SampleRow extends Omit<
  SystemSample,
  'observed_at' | 'gpu_usage' | 'network_rx_bytes' | 'network_tx_bytes'
> {
  observed_at: Date;
  network_rx_bytes: string;
  network_tx_bytes: string;
  gpu_usage: number | null;
}

export async function rebuildFromWriteDb(config: ReplicatorConfig, logger: Logger): Promise<string> {
  const databaseUrl = config.PULSE_PROJECTION_DATABASE_URL;
  await prepareShadow(databaseUrl, logger);
  const shadow = new pg.Client({
    connectionString: inSchema(databaseUrl, SHADOW_SCHEMA),
    application_name: 'pulse-rebuild',
  });
  const writeDb = new pg.Client({
    connectionString: config.PULSE_WRITE_DATABASE_URL,
    application_name: 'pulse-rebuild',
  });
  await shadow.connect();
  await writeDb.connect();
  try {
    // O before S: see the module comment. The applied event ids come from the same projection
    // snapshot as O, so every id copied belongs to an event before O.
    await shadow.query('begin isolation level repeatable read');
    await shadow.query(
      `insert into projection_offsets (group_id, topic, partition, next_offset)
       select group_id, topic, partition, next_offset from public.projection_offsets where group_id = $1 and topic = $2`,
      [config.PULSE_PROJECTOR_GROUP, config.PULSE_KAFKA_TOPIC],
    );
    await shadow.query('insert into applied_events select * from public.applied_events');
    await shadow.query('commit');
    await writeDb.query('begin isolation level repeatable read read only');
    const { rows: snapshotRows } = await writeDb.query<{ snapshot: string }>(
      'select pg_current_snapshot()::text as snapshot',
    );
    await shadow.query('insert into backfill_snapshot (snapshot) values ($1::pg_snapshot)', [
      snapshotRows[0]?.snapshot,
    ]);

    const { rows: tenants } = await writeDb.query<{ id: string; alert_rules: AlertRules }>(
      'select id, alert_rules from tenants',
    );
    const { rows: services } = await writeDb.query<ServiceRow>('select * from services order by id');
    const header = [
      ...tenants.map((t) => synthetic('tenant.alert_rules.updated', t.id, t.id, { rules: t.alert_rules })),
      ...services.map((s) =>
        synthetic('service.registered', s.tenant_id, s.id, {
          name: s.name,
          hostname: s.hostname,
          os: s.os,
          version: s.version,
          labels: s.labels,
          registered_at: s.registered_at.toISOString(),
        }),
      ),
      ...services.flatMap((s) =>
        s.last_heartbeat_at
          ? [
              synthetic('service.heartbeat', s.tenant_id, s.id, {
                observed_at: s.last_heartbeat_at.toISOString(),
              }),
            ]
          : [],
      ),
    ];
    await applyChanges(shadow, foldEvents(header));

    let samples = 0;
    for (const service of services) {
      samples += await backfillSamples(writeDb, shadow, service);
      await backfillProcesses(writeDb, shadow, service);
    }
    await writeDb.query('commit');
    logger.info(
      { tenants: tenants.length, services: services.length, samples },
      'rebuild: backfilled from the write DB',
    );
  } finally {
    await writeDb.end();
    await shadow.end();
  }
  return swapIn(
    databaseUrl,
    { liveGroup: config.PULSE_PROJECTOR_GROUP, shadowGroup: config.PULSE_PROJECTOR_GROUP },
    logger,
  );
}

/** A service's samples in chunks (keyset by observed_at), each folded and merged: the merges are additive. */
async function backfillSamples(writeDb: pg.Client, shadow: pg.Client, service: ServiceRow): Promise<number> {
  let after = new Date(0);
  let total = 0;
  for (;;) {
    const { rows } = await writeDb.query<SampleRow>(
      `select observed_at, cpu_usage, memory_usage, disk_usage, load_avg, network_rx_bytes, network_tx_bytes, gpu_usage
         from system_metrics where service_id = $1 and observed_at > $2 order by observed_at limit $3`,
      [service.id, after, SAMPLE_CHUNK],
    );
    const last = rows.at(-1);
    if (!last) return total;
    const chunk: SystemSample[] = rows.map((row) => ({
      ...row,
      observed_at: row.observed_at.toISOString(),
      network_rx_bytes: Number(row.network_rx_bytes),
      network_tx_bytes: Number(row.network_tx_bytes),
      ...(row.gpu_usage === null ? { gpu_usage: undefined } : { gpu_usage: row.gpu_usage }),
    }));
    await applyChanges(
      shadow,
      foldEvents([synthetic('metrics.system.recorded', service.tenant_id, service.id, { samples: chunk })]),
    );
    total += rows.length;
    after = last.observed_at;
  }
}

async function backfillProcesses(writeDb: pg.Client, shadow: pg.Client, service: ServiceRow): Promise<void> {
  const { rows } = await writeDb.query<{
    observed_at: Date;
    pid: number;
    process_name: string;
    cpu_usage: number;
    memory_usage: number;
  }>(
    `select observed_at, pid, process_name, cpu_usage, memory_usage from process_metrics
      where service_id = $1 and observed_at = (select max(observed_at) from process_metrics where service_id = $1)`,
    [service.id],
  );
  const observedAt = iso(rows[0]?.observed_at ?? null);
  if (!observedAt) return;
  const processes = rows.map(({ pid, process_name, cpu_usage, memory_usage }) => ({
    pid,
    process_name,
    cpu_usage,
    memory_usage,
  }));
  await applyChanges(
    shadow,
    foldEvents([
      synthetic('metrics.process.recorded', service.tenant_id, service.id, {
        observed_at: observedAt,
        processes,
      }),
    ]),
  );
}

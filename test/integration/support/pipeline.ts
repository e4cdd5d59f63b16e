/**
 * Helpers for suites that drive the pipeline below the HTTP API: a write DB with the write
 * service's schema, outbox rows written as the write service writes them, replicator processes,
 * and reading the projection back.
 */
import { join } from 'node:path';
import pg from 'pg';
import { newEventId, OUTBOX_CHANNEL, runMigrations, createLogger, type SystemSample } from '@pulse/core';
import { freePort } from '../../harness/ports.js';
import { startService, type RunningService } from '../../harness/services.js';
import { suiteScope, type TestStack } from '../../harness/testing.js';
import { repoRoot } from '../../harness/tools.js';

const quiet = createLogger('test', 'silent');

export const WRITE_MIGRATIONS_DIR = join(repoRoot, 'services/write/migrations');

/** Applies the write service's migrations, or those in `dir` (a suite testing one migration). */
export async function migrateWriteDb(url: string, dir = WRITE_MIGRATIONS_DIR): Promise<void> {
  await runMigrations({ databaseUrl: url, dir, logger: quiet });
}

/** A scope of the suite's own on the stack, its write DB migrated, and a client connected to that DB. */
export async function scopeWithWriteDb(
  stack: TestStack,
  suite: string,
): Promise<{ scope: Record<string, string>; writeDb: pg.Client }> {
  const scope = await suiteScope(stack, suite);
  await migrateWriteDb(scope.PULSE_WRITE_DATABASE_URL ?? '');
  const writeDb = new pg.Client({ connectionString: scope.PULSE_WRITE_DATABASE_URL });
  await writeDb.connect();
  return { scope, writeDb };
}

export interface OutboxEvent {
  id: string;
  tenantId: string;
  serviceId: string;
  samples: SystemSample[];
}

/** An event id made at `ms`: the write service's ids are UUIDv7, whose first 48 bits are that time. */
export function eventIdAt(ms: number): string {
  const time = ms.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}${newEventId().slice(13)}`;
}

export function systemEvent(tenantId: string, serviceId: string, samples: SystemSample[]): OutboxEvent {
  return { id: newEventId(), tenantId, serviceId, samples };
}

/**
 * Inserts events into the outbox and wakes the relay, as one write command does (inside an open
 * transaction, the notification goes out at its commit).
 */
export async function insertOutbox(db: pg.ClientBase, events: OutboxEvent[]): Promise<void> {
  await db.query(
    `insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, payload)
     select id, 'metrics.system.recorded', 1, tenant_id, aggregate_id, occurred_at, payload
       from jsonb_to_recordset($1::jsonb) as r(id uuid, tenant_id uuid, aggregate_id uuid, occurred_at timestamptz, payload jsonb)`,
    [
      JSON.stringify(
        events.map((e) => ({
          id: e.id,
          tenant_id: e.tenantId,
          aggregate_id: e.serviceId,
          occurred_at: e.samples[0]?.observed_at,
          payload: { samples: e.samples },
        })),
      ),
    ],
  );
  await db.query('select pg_notify($1, $2)', [OUTBOX_CHANNEL, '']);
}

/**
 * SQL condition on outbox rows: after the relay's latest mark, so not published yet (or to be
 * published again). Rows at or below it are published.
 */
export const UNPUBLISHED = '(txid, id) > (select txid, id from relay_cursor)';

export function sampleAt(observedAt: Date, cpu: number): SystemSample {
  return {
    observed_at: observedAt.toISOString(),
    cpu_usage: cpu,
    memory_usage: 40,
    disk_usage: 30,
    load_avg: 0.5,
    network_rx_bytes: 1000,
    network_tx_bytes: 2000,
  };
}

export async function startReplicator(
  stack: TestStack,
  scope: Record<string, string>,
  instance = 'replicator',
  extra: Record<string, string> = {},
): Promise<RunningService> {
  return startService({ ...stack.info, env: { ...stack.env, ...scope } }, 'replicator', {
    instance,
    port: await freePort(),
    env: {
      PULSE_KAFKA_PARTITIONS: '4',
      PULSE_HEARTBEAT_CHECK_INTERVAL_MS: '500',
      PULSE_RELAY_POLL_INTERVAL_MS: '200',
      ...extra,
    },
  });
}

export async function scalar(db: pg.ClientBase, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: string | number | null }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

export async function metricValue(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const pairs = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  const line = text
    .split('\n')
    .find(
      (l) =>
        (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && pairs.every((pair) => l.includes(pair)),
    );
  return line ? Number(line.split(' ').at(-1)) : undefined;
}

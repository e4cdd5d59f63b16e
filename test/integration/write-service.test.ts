/**
 * The write service as a real process against the real PostgreSQL primary: commands commit their
 * domain rows and outbox events together, answer with a position token, refuse bad input without
 * changing anything, keep tenants apart, and survive a terminated connection.
 * Needs `make build` first (it runs services/write/dist/main.js). The suite has a write database
 * of its own (suiteScope), so it may count rows across tables.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventPayloadSchemas, onlyRow, parsePosition, type EventType, type Position } from '@pulse/core';
import pg from 'pg';
import { newAdminKey } from '../harness/api.js';
import { freePort } from '../harness/ports.js';
import { startTcpProxy } from '../harness/tcp-proxy.js';
import { serviceEntry, startService, type RunningService } from '../harness/services.js';
import { suiteScope, testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import { eventIdAt, metricValue, migrateWriteDb, WRITE_MIGRATIONS_DIR } from './support/pipeline.js';

const ADMIN_KEY = newAdminKey();

/** Stops the service with SIGTERM and answers its exit code: a clean drain exits 0. */
async function drain(service: RunningService): Promise<number | null> {
  await service.stop();
  const exit = await waitFor('the exit status', () => service.process.exit, { timeoutMs: 5_000 });
  return exit.code;
}

function positionOf(token: unknown): Position {
  const position = parsePosition(String(token));
  assert.ok(position, `a position token: ${String(token)}`);
  return position;
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Applies the write migrations older than `version`, as a database created before it has them. */
async function migrateBefore(url: string, version: string): Promise<void> {
  const earlier = mkdtempSync(join(tmpdir(), 'pulse-write-migrations-'));
  try {
    for (const file of readdirSync(WRITE_MIGRATIONS_DIR).filter((name) => name < version))
      copyFileSync(join(WRITE_MIGRATIONS_DIR, file), join(earlier, file));
    await migrateWriteDb(url, earlier);
  } finally {
    rmSync(earlier, { recursive: true, force: true });
  }
}

describe('write service', () => {
  let stack: TestStack;
  let db: pg.Pool;
  let scope: Record<string, string>;
  let service: RunningService;
  /** A write service of this suite's own, on its database; `env` adds to or overrides its settings. */
  const startWrite = async (env: Record<string, string> = {}) =>
    startService({ ...stack.info, env: { ...stack.env, ...scope } }, 'write', {
      instance: `write-${randomBytes(3).toString('hex')}`,
      port: await freePort(),
      env: { PULSE_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, ...env },
    });
  const run = randomBytes(4).toString('hex');
  /** A write database of the test's own, migrated up to before `version`, with a client on it. */
  const withDbMigratedBefore = async (
    name: string,
    version: string,
    test: (client: pg.Client, url: string) => Promise<void>,
  ) => {
    const url = (await suiteScope(stack, name)).PULSE_WRITE_DATABASE_URL ?? '';
    await migrateBefore(url, version);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await test(client, url);
    } finally {
      await client.end();
    }
  };

  const call = async (
    method: string,
    path: string,
    {
      key,
      body,
      headers = {},
      via = service,
    }: {
      key?: string | undefined;
      body?: unknown;
      headers?: Record<string, string>;
      /** The write service to send to, when not the suite's. */
      via?: RunningService;
    } = {},
  ): Promise<Reply> => {
    const response = await fetch(`${via.url}${path}`, {
      method,
      headers: {
        ...(key ? { 'X-API-Key': key } : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  const api = (method: string, path: string, options?: Parameters<typeof call>[2]) =>
    call(method, `/api/v1${path}`, options);

  const createTenant = async (name: string) => {
    const reply = await api('POST', '/tenants', { key: ADMIN_KEY, body: { name: `${name}-${run}` } });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    return reply.body.id as string;
  };
  const issueKey = async (tenantId: string, scopes: string[]) => {
    const reply = await api('POST', `/tenants/${tenantId}/api-keys`, {
      key: ADMIN_KEY,
      body: { name: 'test', scopes },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    return { id: reply.body.id as string, key: reply.body.key as string };
  };
  const register = async (key: string, name: string, hostname = 'host-1') => {
    const reply = await api('POST', '/services', { key, body: { name, hostname } });
    assert.ok([200, 201].includes(reply.status), JSON.stringify(reply.body));
    return reply.body.id as string;
  };
  const sample = (serviceId: string, overrides: Record<string, unknown> = {}) => ({
    service_id: serviceId,
    observed_at: new Date().toISOString(),
    cpu_usage: 12.5,
    memory_usage: 40,
    disk_usage: 70,
    load_avg: 0.7,
    network_rx_bytes: 1000,
    network_tx_bytes: 2000,
    ...overrides,
  });
  /** Rows of every table a command can write, for one tenant: a refused command must change none. */
  const counts = async (tenantId: string) => {
    const { rows } = await db.query<Record<string, string>>(
      `select (select count(*) from outbox where tenant_id = $1) as outbox,
              (select count(*) from services where tenant_id = $1) as services,
              (select count(*) from system_metrics m join services s on s.id = m.service_id where s.tenant_id = $1) as system,
              (select count(*) from process_metrics m join services s on s.id = m.service_id where s.tenant_id = $1) as process,
              (select count(*) from idempotency_keys where tenant_id = $1) as idempotency,
              (select max(last_heartbeat_at)::text from services where tenant_id = $1) as heartbeat,
              (select alert_rules::text from tenants where id = $1) as rules`,
      [tenantId],
    );
    return onlyRow(rows);
  };
  const eventsOf = async (txid: string) =>
    (
      await db.query<{
        type: EventType;
        tenant_id: string;
        aggregate_id: string;
        payload: unknown;
        traceparent: string | null;
      }>(
        'select type, tenant_id, aggregate_id, payload, traceparent from outbox where txid = $1::xid8 order by id',
        [txid],
      )
    ).rows;

  let tenantA: string;
  let tenantB: string;
  let writerA: string;
  let readerA: string;
  let writerB: string;
  let serviceA: string;

  before(async () => {
    stack = await testStack(['postgres']);
    scope = await suiteScope(stack, 'write');
    assert.ok(scope.PULSE_WRITE_DATABASE_URL);
    db = new pg.Pool({ connectionString: scope.PULSE_WRITE_DATABASE_URL, max: 4 });
    service = await startWrite();
    tenantA = await createTenant('a');
    tenantB = await createTenant('b');
    writerA = (await issueKey(tenantA, ['write', 'read'])).key;
    readerA = (await issueKey(tenantA, ['read'])).key;
    writerB = (await issueKey(tenantB, ['write'])).key;
    serviceA = await register(writerA, 'api');
  });
  after(async () => {
    assert.equal(await drain(service), 0, 'a SIGTERM drain exits 0');
    await db.end();
    await stack.release();
  });

  describe('schema', () => {
    it("keeps each new service's registering transaction, and none for the services registered before", async () => {
      await withDbMigratedBefore('write-migration', '1796601600000', async (client, url) => {
        const tenant = randomUUID();
        const before = randomUUID();
        await client.query(`insert into tenants (id, name, alert_rules) values ($1, 'old', '{}')`, [tenant]);
        await client.query(
          `insert into services (id, tenant_id, name, hostname) values ($1, $2, 'before', 'h')`,
          [before, tenant],
        );

        await migrateWriteDb(url);
        const registered = async () =>
          Object.fromEntries(
            (
              await client.query<{ id: string; txid: string | null }>(
                'select id, registered_txid::text as txid from services',
              )
            ).rows.map((row) => [row.id, row.txid]),
          );
        assert.deepEqual(await registered(), { [before]: null }, "not the migration's transaction");

        const { rows } = await client.query<{ id: string; txid: string }>(
          `insert into services (id, tenant_id, name, hostname) values ($1, $2, 'new', 'h')
           returning id, pg_current_xact_id()::text as txid`,
          [randomUUID(), tenant],
        );
        const added = onlyRow(rows);
        assert.equal((await registered())[added.id], added.txid, 'a new service keeps its own transaction');
      });
    });

    it('starts the relay marks at the end of the published prefix, and drops published_at', async () => {
      await withDbMigratedBefore('relay_marks_migration', '1796688000000', async (client, url) => {
        const tenant = randomUUID();
        const service = randomUUID();
        // Three transactions of rows in (txid, id) order: a b c | d e | f.
        const start = Date.now();
        const ids = Array.from({ length: 6 }, (_, i) => eventIdAt(start + i));
        const insert = (rows: string[]) =>
          client.query(
            `insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, payload)
             select id, 'metrics.system.recorded', 1, $2, $3, now(), '{}' from unnest($1::uuid[]) as id`,
            [rows, tenant, service],
          );
        await insert(ids.slice(0, 3));
        await insert(ids.slice(3, 5));
        await insert(ids.slice(5));
        // Published: a b c d, and f beyond the first unpublished row e.
        await client.query('update outbox set published_at = now() where id = any($1::uuid[])', [
          [...ids.slice(0, 4), ids[5]],
        ]);

        await migrateWriteDb(url);
        const { rows } = await client.query<{ id: string }>('select id from relay_cursor');
        assert.deepEqual(
          rows.map((row) => row.id),
          [ids[3]],
          'the last row before the first unpublished one',
        );
        const column = await client.query(
          `select 1 from information_schema.columns where table_name = 'outbox' and column_name = 'published_at'`,
        );
        assert.equal(column.rowCount, 0);
      });
    });

    it('has the outbox of the relay contract, with its index and no trigger that would serialise commits', async () => {
      const { rows } = await db.query<{
        column_name: string;
        data_type: string;
        is_nullable: string;
        column_default: string | null;
      }>(
        `select column_name, data_type, is_nullable, column_default from information_schema.columns
         where table_name = 'outbox' order by ordinal_position`,
      );
      const shape = Object.fromEntries(
        rows.map((r) => [r.column_name, `${r.data_type} ${r.is_nullable} ${r.column_default ?? ''}`.trim()]),
      );
      assert.deepEqual(shape, {
        id: 'uuid NO',
        txid: 'xid8 NO pg_current_xact_id()',
        type: 'text NO',
        version: 'integer NO',
        tenant_id: 'uuid NO',
        aggregate_id: 'uuid NO',
        occurred_at: 'timestamp with time zone NO',
        created_at: 'timestamp with time zone NO clock_timestamp()',
        traceparent: 'text YES',
        payload: 'jsonb NO',
      });
      const index = await db.query(
        `select indexdef from pg_indexes where tablename = 'outbox' and indexdef like '%USING btree (txid, id)'`,
      );
      assert.equal(index.rowCount, 1, 'the relay reads and counts by position');
      // The relay's progress: every row at or below the latest mark is published.
      const cursor = await db.query<{ txid: string; id: string }>('select txid::text, id from relay_cursor');
      assert.equal(cursor.rowCount, 1, 'relay_cursor always has a row');
      const trigger = await db.query(
        `select 1 from information_schema.triggers where event_object_table = 'outbox' and action_timing = 'AFTER' and action_orientation = 'STATEMENT'`,
      );
      // A NOTIFY in the command's transaction would hold PostgreSQL's notify lock through COMMIT.
      assert.equal(trigger.rowCount, 0);
    });

    it('notifies pulse_outbox after a command commits', async () => {
      const listener = await db.connect();
      try {
        let notified = 0;
        listener.on('notification', (message) => {
          if (message.channel === 'pulse_outbox') notified++;
        });
        await listener.query('listen pulse_outbox');
        await api('POST', `/services/${serviceA}/heartbeats`, { key: writerA });
        await waitFor('a pulse_outbox notification', () => notified > 0, {
          timeoutMs: 5_000,
          intervalMs: 20,
        });
      } finally {
        await listener.query('unlisten *');
        listener.release();
      }
    });

    it('has daily sample partitions ahead of today, and retention drops old ones', async () => {
      const partitions = async () =>
        new Set(
          (
            await db.query<{ name: string }>(
              `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
               where i.inhparent in ('system_metrics'::regclass, 'process_metrics'::regclass)`,
            )
          ).rows.map((r) => r.name),
        );
      const day = (offset: number) =>
        new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
      const present = await partitions();
      for (const offset of [-7, 0, 1, 2, 3]) {
        assert.ok(
          present.has(`system_metrics_p${day(offset)}`),
          `system_metrics partition ${offset} days from today`,
        );
        assert.ok(
          present.has(`process_metrics_p${day(offset)}`),
          `process_metrics partition ${offset} days from today`,
        );
      }
      // An empty partition ahead, dropped so that maintenance must create it again.
      await db.query(`drop table if exists system_metrics_p${day(5)}`);
      await db.query(
        `create table system_metrics_p20000101 partition of system_metrics
         for values from ('2000-01-01 00:00+00') to ('2000-01-02 00:00+00')`,
      );
      const { rows } = await db.query<{ action: string; partition_name: string }>(
        `select * from pulse_maintain_partitions(current_date, 7, 5)`,
      );
      assert.deepEqual(
        rows.find((r) => r.partition_name === 'system_metrics_p20000101'),
        { action: 'dropped', partition_name: 'system_metrics_p20000101' },
      );
      assert.ok(rows.some((r) => r.action === 'created' && r.partition_name === `system_metrics_p${day(5)}`));
      const after = await partitions();
      assert.ok(!after.has('system_metrics_p20000101'));
      assert.ok(after.has(`process_metrics_p${day(5)}`));
    });

    it('purges idempotency keys past their TTL, in chunks, and keeps the newer ones', async () => {
      const tenant = await createTenant('purge');
      const keys = (prefix: string) =>
        db.query<{ n: string }>(
          `select count(*) as n from idempotency_keys where tenant_id = $1 and key like $2`,
          [tenant, `${prefix}-%`],
        );
      const insertKeys = (prefix: string, count: number, age: string) =>
        db.query(
          `insert into idempotency_keys (tenant_id, key, request_hash, status_code, response, created_at)
           select $1, $2 || '-' || g, '', 202, '{}', now() - $4::interval from generate_series(1, $3::int) g`,
          [tenant, prefix, count, age],
        );
      // More than two chunks of 5,000 past the 24 h TTL, and some within it.
      await insertKeys('old', 12_000, '25 hours');
      await insertKeys('new', 3, '23 hours');
      // Maintenance runs when the service starts.
      const maintaining = await startWrite();
      try {
        await waitFor(
          'the expired keys purged',
          async () => Number(onlyRow((await keys('old')).rows).n) === 0,
          {
            timeoutMs: 30_000,
          },
        );
        assert.equal(Number(onlyRow((await keys('new')).rows).n), 3);
      } finally {
        await maintaining.stop();
      }
    });
  });

  describe('commands', () => {
    it('registers a service once: the same name and host return the same id and emit no new event', async () => {
      const first = await api('POST', '/services', {
        key: writerA,
        body: { name: 'db', hostname: 'h', os: 'linux', labels: { env: 'prod' } },
      });
      assert.equal(first.status, 201);
      assert.equal(first.headers.get('x-pulse-position'), first.body.position);
      const position = parsePosition(String(first.body.position));
      assert.ok(position);
      assert.equal(position.events, 1);
      const events = await eventsOf(position.txid);
      assert.equal(events.length, 1);
      const [event] = events;
      assert.ok(event);
      assert.equal(event.type, 'service.registered');
      assert.equal(event.aggregate_id, first.body.id);
      assert.equal(event.tenant_id, tenantA);
      const payload = eventPayloadSchemas['service.registered'].parse(event.payload);
      assert.deepEqual(
        { ...payload, registered_at: '' },
        { name: 'db', hostname: 'h', os: 'linux', version: null, labels: { env: 'prod' }, registered_at: '' },
      );

      const before = await counts(tenantA);
      const again = await api('POST', '/services', { key: writerA, body: { name: 'db', hostname: 'h' } });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.body.position, first.body.position, 'points at the registration');
      assert.equal((await counts(tenantA)).outbox, before.outbox);

      // The relay purges published outbox rows after its retention; the answer does not need them.
      await db.query(`delete from outbox where aggregate_id = $1 and type = 'service.registered'`, [
        first.body.id,
      ]);
      const later = await api('POST', '/services', { key: writerA, body: { name: 'db', hostname: 'h' } });
      assert.equal(later.status, 200);
      assert.equal(later.body.position, first.body.position, 'still points at the registration');
    });

    it('commits a batch across three services as one transaction with one event per service', async () => {
      const services = [serviceA, await register(writerA, 'web'), await register(writerA, 'worker')];
      const base = Date.now() - 60_000;
      const samples = services.flatMap((id, s) =>
        [0, 1].map((i) =>
          sample(id, { observed_at: new Date(base + i * 1000 + s).toISOString(), cpu_usage: 10 * s + i }),
        ),
      );
      const reply = await api('POST', '/metrics/system/batch', { key: writerA, body: { samples } });
      assert.equal(reply.status, 202, JSON.stringify(reply.body));
      assert.equal(reply.body.accepted, 6);
      const position = positionOf(reply.body.position);
      assert.equal(position.events, 3);
      const events = await eventsOf(position.txid);
      assert.deepEqual(events.map((e) => e.aggregate_id).sort(), [...services].sort());
      for (const event of events) {
        assert.equal(event.type, 'metrics.system.recorded');
        const payload = eventPayloadSchemas['metrics.system.recorded'].parse(event.payload);
        assert.equal(payload.samples.length, 2);
        assert.match(event.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      }
      const { rows } = await db.query<{ n: string }>(
        `select count(*) as n from system_metrics where service_id = any($1::uuid[]) and observed_at >= $2`,
        [services, new Date(base).toISOString()],
      );
      assert.equal(onlyRow(rows).n, '6');

      const resent = await api('POST', '/metrics/system/batch', { key: writerA, body: { samples } });
      assert.equal(resent.status, 202);
      assert.equal(resent.body.accepted, 0, 'a re-sent sample is stored once');
      assert.equal(positionOf(resent.body.position).events, 0);
    });

    it('records a heartbeat, a single sample, a process list and alert rules, each with its event', async () => {
      const cases: { reply: Promise<Reply>; type: EventType; aggregate: string }[] = [
        {
          reply: api('POST', `/services/${serviceA}/heartbeats`, {
            key: writerA,
            body: { observed_at: new Date().toISOString() },
          }),
          type: 'service.heartbeat',
          aggregate: serviceA,
        },
        {
          reply: api('POST', '/metrics/system', { key: writerA, body: sample(serviceA, { gpu_usage: 3 }) }),
          type: 'metrics.system.recorded',
          aggregate: serviceA,
        },
        {
          reply: api('POST', '/metrics/process', {
            key: writerA,
            body: {
              service_id: serviceA,
              observed_at: new Date().toISOString(),
              processes: [{ process_name: 'node', pid: 42, cpu_usage: 150, memory_usage: 3 }],
            },
          }),
          type: 'metrics.process.recorded',
          aggregate: serviceA,
        },
        {
          reply: api('PUT', `/tenants/${tenantA}/alert-rules`, {
            key: ADMIN_KEY,
            body: {
              cpu_usage_above: 80,
              memory_usage_above: 85,
              disk_usage_above: 90,
              heartbeat_missing_seconds: 30,
            },
          }),
          type: 'tenant.alert_rules.updated',
          aggregate: tenantA,
        },
      ];
      for (const { reply, type, aggregate } of cases) {
        const { status, body, headers } = await reply;
        assert.ok(status === 202 || status === 200, `${type}: ${JSON.stringify(body)}`);
        assert.equal(headers.get('x-pulse-position'), body.position);
        const position = positionOf(body.position);
        const events = await eventsOf(position.txid);
        assert.equal(events.length, 1);
        const [event] = events;
        assert.ok(event);
        assert.equal(event.type, type);
        assert.equal(event.aggregate_id, aggregate);
        assert.equal(event.tenant_id, tenantA);
        eventPayloadSchemas[type].parse(event.payload);
      }
    });

    it('keeps the trace of the request on the outbox row', async () => {
      const traceId = randomBytes(16).toString('hex');
      const reply = await api('POST', `/services/${serviceA}/heartbeats`, {
        key: writerA,
        headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      });
      const [event] = await eventsOf(positionOf(reply.body.position).txid);
      assert.equal(event?.traceparent?.split('-')[1], traceId);
    });

    /**
     * Holds the services' rows so that the first commands (one per group slot, two by default) wait
     * inside their transactions, sends the rest while they wait, and releases the rows once all of
     * those are queued (after `beforeRelease`): the queued commands then commit as one group.
     * `alone`, when given, are those first two, sent and waiting before the rest are sent.
     */
    const sendWhileGroupsWait = async (
      serviceIds: string | string[],
      send: () => Promise<Reply>[],
      {
        via = service,
        alone,
        beforeRelease = () => {},
      }: { via?: RunningService; alone?: () => Promise<Reply>[]; beforeRelease?: () => void } = {},
    ) => {
      const blocker = await db.connect();
      let replies: Promise<Reply[]> | undefined;
      try {
        await blocker.query('begin');
        await blocker.query('select 1 from services where id = any($1::uuid[]) for update', [
          [serviceIds].flat(),
        ]);
        const first = alone?.() ?? [];
        await waitFor(
          'the commands sent alone to wait on the held rows',
          async () =>
            Number(
              (
                await db.query<{ n: string }>(
                  `select count(*) as n from pg_stat_activity
                    where datname = current_database() and wait_event_type = 'Lock'`,
                )
              ).rows[0]?.n,
            ) === first.length,
          { timeoutMs: 10_000, intervalMs: 20 },
        );
        const sent = [...first, ...send()];
        replies = Promise.all(sent);
        const waiting = async () => {
          const metrics = await (await fetch(`${via.url}/metrics`)).text();
          return Number(/^pulse_write_commands_waiting\{[^}]*\} (\d+)/m.exec(metrics)?.[1]);
        };
        await waitFor(
          'all but two commands to queue behind the two waiting groups',
          async () => {
            return (await waiting()) === sent.length - 2;
          },
          { timeoutMs: 10_000, intervalMs: 20 },
        );
        beforeRelease();
      } finally {
        await blocker.query('rollback');
        blocker.release();
      }
      return replies;
    };
    /** Every answer's position must cover exactly the events its transaction committed. */
    const assertPositionsExact = async (replies: Reply[]) => {
      for (const reply of replies) {
        const position = positionOf(reply.body.position);
        assert.equal((await eventsOf(position.txid)).length, position.events, `position ${position.txid}`);
      }
    };
    /**
     * Checks that every command of `sendWhileGroupsWait` was accepted, the two that waited alone and
     * the rest in one group, with exact positions; returns the transactions' txids.
     */
    const assertGroupedBehindTwo = async (replies: Reply[], groupSize: number) => {
      assert.deepEqual(
        replies.map((r) => r.status),
        Array(replies.length).fill(202),
      );
      const perTransaction = new Map<string, number>();
      for (const reply of replies) {
        const { txid } = positionOf(reply.body.position);
        perTransaction.set(txid, (perTransaction.get(txid) ?? 0) + 1);
      }
      assert.deepEqual(
        [...perTransaction.values()].sort((a, b) => a - b),
        [1, 1, groupSize],
      );
      await assertPositionsExact(replies);
      return [...perTransaction.keys()];
    };

    it('commits concurrent small commands together, each position covering its whole transaction', async () => {
      const serviceId = await register(writerA, 'grouped');
      // Its owner is then remembered, so that a sample sent alone commits in one statement.
      assert.equal(
        (await api('POST', '/metrics/system', { key: writerA, body: sample(serviceId) })).status,
        202,
      );
      const before = await counts(tenantA);
      const base = Date.now() - 120_000;
      const command = (i: number) =>
        i % 5 === 4
          ? api('POST', `/services/${serviceId}/heartbeats`, {
              key: writerA,
              body: { observed_at: new Date(base - i).toISOString() },
            })
          : api('POST', '/metrics/system', {
              key: writerA,
              body: sample(serviceId, { observed_at: new Date(base - i).toISOString() }),
            });
      const replies = await sendWhileGroupsWait(
        serviceId,
        () => Array.from({ length: 18 }, (_, i) => command(i + 2)),
        { alone: () => [command(0), command(1)] },
      );
      await assertGroupedBehindTwo(replies, 18);
      const now = await counts(tenantA);
      assert.equal(Number(now.outbox) - Number(before.outbox), 20);
      assert.equal(Number(now.system) - Number(before.system), 16);
      // The two samples sent alone committed in one statement each, which records only a client's
      // key; the group's commands, in one transaction, record each command's key.
      assert.equal(Number(now.idempotency) - Number(before.idempotency), 18);
    });

    it("merges a group's samples and heartbeats, of two tenants, into one statement of each kind", async () => {
      const serviceId = await register(writerA, 'merged');
      const otherTenantService = await register(writerB, 'merged-b');
      const [beforeA, beforeB] = [await counts(tenantA), await counts(tenantB)];
      const base = Date.now() - 240_000;
      const twice = new Date(base - 1000).toISOString();
      const now = Date.now();
      const soon = (seconds: number) => new Date(now + seconds * 1000).toISOString();
      const replies = await sendWhileGroupsWait([serviceId, otherTenantService], () => [
        ...Array.from({ length: 6 }, (_, i) =>
          api('POST', '/metrics/system', {
            key: writerA,
            body: sample(serviceId, { observed_at: new Date(base - i).toISOString() }),
          }),
        ),
        // The same sample twice, with different values: one is stored, and its event says which.
        ...[10, 20].map((cpu) =>
          api('POST', '/metrics/system', {
            key: writerA,
            body: sample(serviceId, { observed_at: twice, cpu_usage: cpu }),
          }),
        ),
        // Heartbeats out of order: the service keeps the latest, not the last applied.
        ...[30, 90, 60].map((seconds) =>
          api('POST', `/services/${serviceId}/heartbeats`, {
            key: writerA,
            body: { observed_at: soon(seconds) },
          }),
        ),
        api('POST', '/metrics/system', {
          key: writerB,
          body: sample(otherTenantService, { observed_at: new Date(base).toISOString() }),
        }),
        api('POST', `/services/${otherTenantService}/heartbeats`, {
          key: writerB,
          body: { observed_at: soon(45) },
        }),
      ]);
      const txids = await assertGroupedBehindTwo(replies, 11);
      const [nowA, nowB] = [await counts(tenantA), await counts(tenantB)];
      assert.equal(Number(nowA.system) - Number(beforeA.system), 7);
      assert.equal(Number(nowA.outbox) - Number(beforeA.outbox), 10);
      assert.equal(Number(nowB.system) - Number(beforeB.system), 1);
      assert.equal(Number(nowB.outbox) - Number(beforeB.outbox), 2);
      const heartbeats = await db.query<{ id: string; last_heartbeat_at: Date }>(
        'select id, last_heartbeat_at from services where id = any($1::uuid[])',
        [[serviceId, otherTenantService]],
      );
      assert.deepEqual(
        Object.fromEntries(heartbeats.rows.map((row) => [row.id, row.last_heartbeat_at.toISOString()])),
        { [serviceId]: soon(90), [otherTenantService]: soon(45) },
      );
      const { rows } = await db.query<{ cpu_usage: number }>(
        'select cpu_usage from system_metrics where service_id = $1 and observed_at = $2',
        [serviceId, twice],
      );
      const stored = onlyRow(rows).cpu_usage;
      const events = (await Promise.all(txids.map(eventsOf))).flat();
      type Samples = { samples: { observed_at: string; cpu_usage: number }[] };
      const ofTwice = events.filter(
        (event) =>
          event.type === 'metrics.system.recorded' &&
          Date.parse((event.payload as Samples).samples[0]?.observed_at ?? '') === Date.parse(twice),
      );
      assert.equal(ofTwice.length, 1, 'one event for the sample sent twice');
      assert.equal((ofTwice[0]?.payload as Samples).samples[0]?.cpu_usage, stored);
      assert.deepEqual(
        events
          .filter((event) => event.tenant_id === tenantB)
          .map((event) => [event.type, event.aggregate_id])
          .sort(),
        [
          ['metrics.system.recorded', otherTenantService],
          ['service.heartbeat', otherTenantService],
        ],
      );
    });

    it('gives each command of a failed group its own answer: a 404 and a repeated key change nothing else', async () => {
      const serviceId = await register(writerA, 'grouped-failure');
      const before = await counts(tenantA);
      const base = Date.now() - 180_000;
      const repeated = { 'Idempotency-Key': `grouped-${randomUUID()}` };
      const repeatedBody = sample(serviceId, { observed_at: new Date(base - 100).toISOString() });
      const replies = await sendWhileGroupsWait(serviceId, () => [
        ...Array.from({ length: 12 }, (_, i) =>
          api('POST', '/metrics/system', {
            key: writerA,
            body: sample(serviceId, { observed_at: new Date(base - i).toISOString() }),
          }),
        ),
        api('POST', '/metrics/system', { key: writerA, body: sample(randomUUID()) }),
        // Another tenant's service: in a merged insert too, a key reaches only its own tenant's.
        api('POST', '/metrics/system', { key: writerB, body: sample(serviceId) }),
        ...[1, 2, 3].map(() =>
          api('POST', '/metrics/system', { key: writerA, body: repeatedBody, headers: repeated }),
        ),
      ]);
      assert.deepEqual(
        replies.map((r) => r.status),
        [...Array<number>(12).fill(202), 404, 404, 202, 202, 202],
      );
      for (const refused of replies.slice(12, 14)) {
        assert.equal((refused.body.errors as { field: string }[])[0]?.field, 'service_id');
      }
      const repeats = replies.slice(14);
      assert.equal(new Set(repeats.map((r) => r.body.position)).size, 1, 'one answer for the repeated key');
      assert.equal(repeats.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 2);
      await assertPositionsExact(replies.filter((r) => r.status === 202));
      const now = await counts(tenantA);
      assert.equal(Number(now.outbox) - Number(before.outbox), 13);
      assert.equal(Number(now.system) - Number(before.system), 13);
      assert.equal(Number(now.idempotency) - Number(before.idempotency), 13);
    });

    /** Commands committed so far by one statement, outside BEGIN/COMMIT. */
    const statementCommits = async () =>
      (await metricValue(service.url, 'pulse_write_commands_per_transaction_sum', {
        commit: 'statement',
      })) ?? 0;

    it('commits a group of single samples in one statement, with the rows and events a transaction writes', async () => {
      const serviceId = await register(writerA, 'one-statement');
      const batchService = await register(writerA, 'one-statement-batch');
      // The owner of a service is remembered after its first sample; before, the group runs in BEGIN/COMMIT.
      assert.equal(
        (await api('POST', '/metrics/system', { key: writerA, body: sample(serviceId) })).status,
        202,
      );
      const before = { rows: await counts(tenantA), commands: await statementCommits() };
      const base = Date.now() - 300_000;
      // Values whose text a careless conversion changes, with and without the optional field.
      const bodies = Array.from({ length: 14 }, (_, i) =>
        sample(serviceId, {
          observed_at: new Date(base - i).toISOString(),
          cpu_usage: 12.345678901234567 + i,
          load_avg: 0.1 + 0.2,
          network_rx_bytes: Number.MAX_SAFE_INTEGER - i,
          ...(i % 2 === 0 ? { gpu_usage: 99.99999999999999 } : {}),
        }),
      );
      // The same sample twice, with different values: the first one sent is stored, and only its event.
      const twice = sample(serviceId, { observed_at: new Date(base - 1000).toISOString(), cpu_usage: 33 });
      const replies = await sendWhileGroupsWait(serviceId, () =>
        [...bodies, twice, { ...twice, cpu_usage: 44 }].map((body) =>
          api('POST', '/metrics/system', { key: writerA, body }),
        ),
      );
      const txids = await assertGroupedBehindTwo(replies, 14);
      assert.equal(
        (await statementCommits()) - before.commands,
        16,
        'every command committed by one statement',
      );
      const now = await counts(tenantA);
      assert.equal(Number(now.system) - Number(before.rows.system), 15);
      assert.equal(Number(now.outbox) - Number(before.rows.outbox), 15);
      // No client key: a retry would find each command by its event (the command's id), not by a record.
      assert.equal(Number(now.idempotency) - Number(before.rows.idempotency), 0);

      // The same samples of another service through the batch route, a transaction: the same payloads.
      const batched = [...bodies, twice].map((body) => ({ ...body, service_id: batchService }));
      const batch = await api('POST', '/metrics/system/batch', { key: writerA, body: { samples: batched } });
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      const payloadsOf = async (id: string) =>
        (
          await db.query<{ sample: string }>(
            `select jsonb_array_elements(payload->'samples')::text as sample from outbox
              where aggregate_id = $1 and type = 'metrics.system.recorded' and occurred_at < $2
              order by 1`,
            [id, new Date(base + 1).toISOString()],
          )
        ).rows.map((row) => row.sample);
      const single = await payloadsOf(serviceId);
      assert.equal(single.length, 15);
      assert.deepEqual(single, await payloadsOf(batchService));
      const events = (await Promise.all(txids.map(eventsOf))).flat();
      assert.deepEqual(new Set(events.map((event) => event.type)), new Set(['metrics.system.recorded']));
      assert.ok(events.every((event) => event.aggregate_id === serviceId && event.tenant_id === tenantA));
    });

    it('gives each command its own transaction when a key in a one-statement group is taken', async () => {
      const serviceId = await register(writerA, 'one-statement-key');
      assert.equal(
        (await api('POST', '/metrics/system', { key: writerA, body: sample(serviceId) })).status,
        202,
      );
      const before = await counts(tenantA);
      const base = Date.now() - 360_000;
      const repeated = { 'Idempotency-Key': `statement-${randomUUID()}` };
      const repeatedBody = sample(serviceId, { observed_at: new Date(base - 100).toISOString() });
      const send = (i: number) =>
        api('POST', '/metrics/system', {
          key: writerA,
          body: sample(serviceId, { observed_at: new Date(base - i).toISOString() }),
        });
      const replies = await sendWhileGroupsWait(
        serviceId,
        () => [
          ...Array.from({ length: 6 }, (_, i) => send(i + 2)),
          ...[1, 2, 3].map(() =>
            api('POST', '/metrics/system', { key: writerA, body: repeatedBody, headers: repeated }),
          ),
        ],
        { alone: () => [send(0), send(1)] },
      );
      assert.deepEqual(
        replies.map((r) => r.status),
        Array(11).fill(202),
      );
      const repeats = replies.slice(8);
      assert.equal(new Set(repeats.map((r) => r.body.position)).size, 1, 'one answer for the repeated key');
      assert.equal(repeats.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 2);
      await assertPositionsExact(replies);
      const now = await counts(tenantA);
      assert.equal(Number(now.system) - Number(before.system), 9);
      assert.equal(Number(now.outbox) - Number(before.outbox), 9);
      // The two sent alone committed in one statement each, recording no key made here; the group
      // failed on the repeated key and each of its commands recorded its key in a transaction.
      assert.equal(Number(now.idempotency) - Number(before.idempotency), 7);

      // A key committed by the statement, sent again: the statement fails on it and the answer replays.
      const retried = { 'Idempotency-Key': `statement-retry-${randomUUID()}` };
      const retriedBody = sample(serviceId, { observed_at: new Date(base - 200).toISOString() });
      const sendRetried = () =>
        api('POST', '/metrics/system', { key: writerA, body: retriedBody, headers: retried });
      const statementsBefore = await statementCommits();
      const first = await sendRetried();
      assert.equal((await statementCommits()) - statementsBefore, 1, 'committed by one statement');
      const again = await sendRetried();
      assert.deepEqual([first.status, again.status], [202, 202]);
      assert.equal(again.body.position, first.body.position);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      await assertPositionsExact([first]);
      assert.equal(Number((await counts(tenantA)).outbox) - Number(now.outbox), 1);
    });

    it("answers a one-statement group whose commit's answer was lost with that commit's position, and commits nothing twice", async () => {
      const proxy = await startTcpProxy(stack.info.ports.postgresPrimary);
      const proxied = new URL(scope.PULSE_WRITE_DATABASE_URL ?? '');
      proxied.port = String(proxy.port);
      const writer = await startWrite({ PULSE_WRITE_DATABASE_URL: proxied.toString() });
      try {
        const serviceId = await register(writerA, 'lost-answer');
        const send = (observedAt: number, headers: Record<string, string> = {}) =>
          api('POST', '/metrics/system', {
            key: writerA,
            body: sample(serviceId, { observed_at: new Date(observedAt).toISOString() }),
            headers,
            via: writer,
          });
        const base = Date.now() - 480_000;
        // Its owner is then remembered, so that the commands below commit in one statement each.
        assert.equal((await send(base)).status, 202);
        const before = await counts(tenantA);
        const retriesBefore = (await metricValue(writer.url, 'pulse_write_command_retries_total')) ?? 0;
        const clientKey = { 'Idempotency-Key': `lost-answer-${randomUUID()}` };
        let lost = false;
        const replies = await sendWhileGroupsWait(
          serviceId,
          () => [
            ...Array.from({ length: 6 }, (_, i) => send(base - 10 - i)),
            send(base - 20, clientKey),
            // The same sample twice: the first command's is stored, the second's is not.
            send(base - 30),
            send(base - 30),
          ],
          {
            via: writer,
            alone: () => [send(base - 1), send(base - 2)],
            beforeRelease: () => {
              void proxy.loseAnswer('write.commit-single-samples').then(() => {
                lost = true;
              });
            },
          },
        );
        // The group's answers came after its retry, which followed the loss.
        assert.ok(lost, "the proxy lost the group statement's answer");
        assert.deepEqual(
          replies.map((r) => r.status),
          Array(11).fill(202),
        );
        const group = replies.slice(2);
        const lostPosition = positionOf(group[0]?.body.position);
        assert.equal(lostPosition.events, 8, "the lost commit held the group's eight new samples");
        assert.equal((await eventsOf(lostPosition.txid)).length, 8, 'the position names the commit');
        const replayed = group.filter((r) => r.headers.get('idempotent-replayed') === 'true');
        assert.equal(replayed.length, 8, 'every command that commit stored answers as replayed');
        for (const reply of replayed) {
          assert.equal(reply.body.position, group[0]?.body.position, "the lost commit's position for each");
        }
        const second = group.filter((r) => r.headers.get('idempotent-replayed') === null);
        assert.equal(second.length, 1);
        assert.notEqual(
          positionOf(second[0]?.body.position).txid,
          lostPosition.txid,
          "the sample's second command, run again, answers the retry's position",
        );
        const retries = (await metricValue(writer.url, 'pulse_write_command_retries_total')) ?? 0;
        assert.equal(retries - retriesBefore, 1, 'the group was retried once');

        const now = await counts(tenantA);
        assert.equal(Number(now.system) - Number(before.system), 10, 'each new sample stored once');
        assert.equal(Number(now.outbox) - Number(before.outbox), 10, 'one event per new sample');
        // Commands in one statement record only the keys clients sent.
        assert.equal(
          Number(now.idempotency) - Number(before.idempotency),
          1,
          'a record for the client key only',
        );
        const again = await send(base - 20, clientKey);
        assert.equal(again.body.position, group[0]?.body.position, 'the client key replays the lost commit');
      } finally {
        await writer.stop();
        await proxy.close();
      }
    });

    it('commits neither domain rows nor outbox rows when the command fails', async () => {
      const tenant = await createTenant('atomic');
      const key = (await issueKey(tenant, ['write'])).key;
      const serviceId = await register(key, 'svc');
      const before = await counts(tenant);
      // Make the outbox insert, the last write of the command, fail for this tenant only.
      await db.query(
        `alter table outbox add constraint write_test_refuse check (tenant_id <> '${tenant}') not valid`,
      );
      try {
        const reply = await api('POST', '/metrics/system/batch', {
          key,
          body: {
            samples: [
              sample(serviceId),
              sample(serviceId, { observed_at: new Date(Date.now() - 1000).toISOString() }),
            ],
          },
        });
        assert.equal(reply.status, 500);
      } finally {
        await db.query('alter table outbox drop constraint write_test_refuse');
      }
      assert.deepEqual(await counts(tenant), before);
    });
  });

  describe('refused input changes nothing', () => {
    const longAgo = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const cases: { name: string; request: () => Promise<Reply>; status: number; field?: string }[] = [
      {
        name: 'a percentage over 100 in batch item 2',
        request: () =>
          api('POST', '/metrics/system/batch', {
            key: writerA,
            body: { samples: [sample(serviceA), sample(serviceA), sample(serviceA, { cpu_usage: 101 })] },
          }),
        status: 422,
        field: 'samples[2].cpu_usage',
      },
      {
        name: 'a negative counter',
        request: () =>
          api('POST', '/metrics/system', { key: writerA, body: sample(serviceA, { network_rx_bytes: -1 }) }),
        status: 422,
        field: 'network_rx_bytes',
      },
      {
        name: 'a non-finite load',
        request: () =>
          api('POST', '/metrics/system', {
            key: writerA,
            body:
              '{"service_id":"' +
              serviceA +
              '","observed_at":"2020-01-01T00:00:00Z","cpu_usage":1,"memory_usage":1,"disk_usage":1,"load_avg":1e999,"network_rx_bytes":0,"network_tx_bytes":0}',
          }),
        status: 422,
        field: 'load_avg',
      },
      {
        name: 'a time in the future',
        request: () =>
          api('POST', '/metrics/system', { key: writerA, body: sample(serviceA, { observed_at: future }) }),
        status: 422,
        field: 'observed_at',
      },
      {
        name: 'a time beyond retention',
        request: () =>
          api('POST', '/metrics/system', { key: writerA, body: sample(serviceA, { observed_at: longAgo }) }),
        status: 422,
        field: 'observed_at',
      },
      {
        name: 'a missing field',
        request: () =>
          api('POST', '/metrics/system', {
            key: writerA,
            body: { ...sample(serviceA), disk_usage: undefined },
          }),
        status: 422,
        field: 'disk_usage',
      },
      {
        name: 'a pid listed twice',
        request: () =>
          api('POST', '/metrics/process', {
            key: writerA,
            body: {
              service_id: serviceA,
              observed_at: new Date().toISOString(),
              processes: [
                { process_name: 'a', pid: 1, cpu_usage: 1, memory_usage: 1 },
                { process_name: 'b', pid: 1, cpu_usage: 1, memory_usage: 1 },
              ],
            },
          }),
        status: 422,
        field: 'processes[1].pid',
      },
      {
        name: 'too many samples',
        request: () =>
          api('POST', '/metrics/system/batch', {
            key: writerA,
            body: { samples: Array(5001).fill(sample(serviceA)) },
          }),
        status: 422,
        field: 'samples',
      },
      {
        name: 'an unknown service in batch item 1',
        request: () =>
          api('POST', '/metrics/system/batch', {
            key: writerA,
            body: { samples: [sample(serviceA), sample(randomUUID())] },
          }),
        status: 404,
        field: 'samples[1].service_id',
      },
      {
        name: 'malformed JSON',
        request: () => api('POST', '/services', { key: writerA, body: '{"name":' }),
        status: 400,
      },
      {
        name: 'a body that is not JSON',
        request: () =>
          api('POST', '/services', {
            key: writerA,
            body: 'name=x',
            headers: { 'Content-Type': 'text/plain' },
          }),
        status: 415,
      },
      {
        name: 'a body over the size limit',
        request: () =>
          api('POST', '/services', {
            key: writerA,
            body: JSON.stringify({ name: 'x'.repeat(5 * 1024 * 1024), hostname: 'h' }),
          }),
        status: 413,
      },
      {
        name: 'a path id that is not a uuid',
        request: () => api('POST', '/services/nope/heartbeats', { key: writerA }),
        status: 400,
        field: 'id',
      },
      {
        name: 'a bad Idempotency-Key',
        request: () =>
          api('POST', `/services/${serviceA}/heartbeats`, {
            key: writerA,
            headers: { 'Idempotency-Key': 'has space' },
          }),
        status: 400,
        field: 'Idempotency-Key',
      },
      {
        name: 'no API key',
        request: () => api('POST', '/services', { body: { name: 'x', hostname: 'h' } }),
        status: 401,
      },
      {
        name: 'an unknown API key',
        request: () => api('POST', '/services', { key: 'pulse_nope', body: { name: 'x', hostname: 'h' } }),
        status: 401,
      },
      {
        name: 'a key without the write scope',
        request: () => api('POST', '/services', { key: readerA, body: { name: 'x', hostname: 'h' } }),
        status: 403,
      },
      {
        name: 'a write key on an admin route',
        request: () =>
          api('PUT', `/tenants/${tenantA}/alert-rules`, {
            key: writerA,
            body: {
              cpu_usage_above: 1,
              memory_usage_above: 1,
              disk_usage_above: 1,
              heartbeat_missing_seconds: 60,
            },
          }),
        status: 403,
      },
      {
        name: 'an invalid alert rule',
        request: () =>
          api('PUT', `/tenants/${tenantA}/alert-rules`, {
            key: ADMIN_KEY,
            body: {
              cpu_usage_above: 150,
              memory_usage_above: 1,
              disk_usage_above: 1,
              heartbeat_missing_seconds: 60,
            },
          }),
        status: 422,
        field: 'cpu_usage_above',
      },
    ];
    for (const { name, request, status, field } of cases) {
      it(`answers ${status} to ${name}`, async () => {
        const before = await counts(tenantA);
        const reply = await request();
        assert.equal(reply.status, status, JSON.stringify(reply.body));
        assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/);
        assert.equal(reply.body.status, status);
        if (field) {
          const errors = reply.body.errors as { field: string }[];
          assert.ok(
            errors.some((e) => e.field === field),
            `names ${field}: ${JSON.stringify(reply.body)}`,
          );
          assert.match(String(reply.body.detail), new RegExp(field.replace(/[[\].]/g, '\\$&')));
        }
        assert.deepEqual(await counts(tenantA), before);
      });
    }

    it('answers 409 to a second tenant of the same name', async () => {
      const reply = await api('POST', '/tenants', { key: ADMIN_KEY, body: { name: `a-${run}` } });
      assert.equal(reply.status, 409);
    });
  });

  describe('tenant isolation', () => {
    // Every route that names a service, called with another tenant's key: 404, as if it did not exist.
    const routes: { name: string; request: (key: string) => Promise<Reply> }[] = [
      { name: 'heartbeat', request: (key) => api('POST', `/services/${serviceA}/heartbeats`, { key }) },
      {
        name: 'system sample',
        request: (key) => api('POST', '/metrics/system', { key, body: sample(serviceA) }),
      },
      {
        name: 'system batch',
        request: (key) =>
          api('POST', '/metrics/system/batch', { key, body: { samples: [sample(serviceA)] } }),
      },
      {
        name: 'process list',
        request: (key) =>
          api('POST', '/metrics/process', {
            key,
            body: { service_id: serviceA, observed_at: new Date().toISOString(), processes: [] },
          }),
      },
    ];
    for (const { name, request } of routes) {
      it(`hides tenant A's service from tenant B's key: ${name}`, async () => {
        const before = await counts(tenantA);
        const reply = await request(writerB);
        assert.equal(reply.status, 404, JSON.stringify(reply.body));
        assert.deepEqual(await counts(tenantA), before);
        assert.equal((await request(writerA)).status, 202, "the owner's key works");
      });
    }

    it('registers the same name and host separately per tenant', async () => {
      const a = await register(writerA, 'shared-name', 'shared-host');
      const b = await register(writerB, 'shared-name', 'shared-host');
      assert.notEqual(a, b);
    });
  });

  describe('idempotency and retries', () => {
    it('applies a command retried with the same Idempotency-Key once, and replays its answer', async () => {
      const headers = { 'Idempotency-Key': `retry-${randomUUID()}` };
      const body = {
        samples: [sample(serviceA, { observed_at: new Date(Date.now() - 200_000).toISOString() })],
      };
      const before = await counts(tenantA);
      const replies = await Promise.all(
        [1, 2, 3].map(() => api('POST', '/metrics/system/batch', { key: writerA, body, headers })),
      );
      assert.deepEqual(
        replies.map((r) => r.status),
        [202, 202, 202],
      );
      assert.equal(new Set(replies.map((r) => r.body.position)).size, 1, 'one answer');
      assert.equal(replies.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 2);
      const now = await counts(tenantA);
      assert.equal(Number(now.outbox) - Number(before.outbox), 1);
      assert.equal(Number(now.system) - Number(before.system), 1);

      const reused = await api('POST', '/metrics/system/batch', {
        key: writerA,
        body: { samples: [sample(serviceA)] },
        headers,
      });
      assert.equal(reused.status, 422);
      assert.equal((reused.body.errors as { field: string }[])[0]?.field, 'Idempotency-Key');
      assert.deepEqual(await counts(tenantA), now, 'the refused reuse changed nothing');
    });

    it('retries a command whose connection is terminated mid-transaction, and it takes effect once', async () => {
      const serviceId = await register(writerA, 'failover');
      const blocker = await db.connect();
      const blockedBackends = async () =>
        (
          await db.query<{ pid: number }>(
            `select pid from pg_stat_activity where application_name = 'pulse-write' and wait_event_type = 'Lock'`,
          )
        ).rows.map((r) => r.pid);
      let reply: Promise<Reply> | undefined;
      try {
        // Hold the service row, so the heartbeat's UPDATE waits inside its transaction.
        await blocker.query('begin');
        await blocker.query('select 1 from services where id = $1 for update', [serviceId]);
        reply = api('POST', `/services/${serviceId}/heartbeats`, { key: writerA });
        const [first] = await waitFor(
          'the command to wait on the lock',
          async () => {
            const pids = await blockedBackends();
            return pids.length === 1 ? pids : undefined;
          },
          { timeoutMs: 10_000, intervalMs: 50 },
        );
        await db.query('select pg_terminate_backend($1)', [first]);
        await waitFor(
          'the retry to wait on the lock',
          async () => {
            const pids = await blockedBackends();
            return pids.length === 1 && pids[0] !== first;
          },
          { timeoutMs: 10_000, intervalMs: 50 },
        );
      } finally {
        await blocker.query('rollback');
        blocker.release();
      }
      const { status, body } = await reply;
      assert.equal(status, 202, JSON.stringify(body));
      const { rows } = await db.query<{ n: string }>(
        `select count(*) as n from outbox where aggregate_id = $1 and type = 'service.heartbeat'`,
        [serviceId],
      );
      assert.equal(onlyRow(rows).n, '1');
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      assert.match(metrics, /^pulse_write_command_retries_total\{service="write"\} [1-9]/m);
    });
  });

  describe('keys', () => {
    it('answers 404 and writes nothing for a tenant deleted while its key and services are remembered', async () => {
      const tenant = await createTenant('deleted');
      const key = (await issueKey(tenant, ['write'])).key;
      const serviceId = await register(key, 'doomed');
      // The service's owner and the key are now in the write service's memory.
      const first = await api('POST', '/metrics/system', { key, body: sample(serviceId) });
      assert.equal(first.status, 202);
      await db.query('delete from tenants where id = $1', [tenant]);
      const reply = await api('POST', '/metrics/system', {
        key,
        body: sample(serviceId, { observed_at: new Date(Date.now() - 1_000).toISOString() }),
      });
      // The key is still remembered (for PULSE_AUTH_CACHE_TTL_MS), so the sample reaches the insert.
      assert.equal(reply.status, 404, JSON.stringify(reply.body));
      const left = await db.query('select 1 from system_metrics where service_id = $1', [serviceId]);
      assert.equal(left.rowCount, 0);
    });

    it('stores only the hash of a key, and a revoked key is refused', async () => {
      const issued = await issueKey(tenantA, ['write']);
      const stored = await db.query(`select 1 from api_keys where key_hash = sha256($1::bytea) and id = $2`, [
        Buffer.from(issued.key),
        issued.id,
      ]);
      assert.equal(stored.rowCount, 1);
      const plain = await db.query(`select 1 from api_keys where position($1 in key_hash::text) > 0`, [
        issued.key,
      ]);
      assert.equal(plain.rowCount, 0);
      assert.equal((await api('POST', `/services/${serviceA}/heartbeats`, { key: issued.key })).status, 202);
      assert.equal(
        (await api('DELETE', `/tenants/${tenantA}/api-keys/${issued.id}`, { key: ADMIN_KEY })).status,
        204,
      );
      assert.equal((await api('POST', `/services/${serviceA}/heartbeats`, { key: issued.key })).status, 401);
      assert.equal(
        (await api('DELETE', `/tenants/${tenantB}/api-keys/${issued.id}`, { key: ADMIN_KEY })).status,
        404,
      );
    });
  });

  describe('HTTP frame', () => {
    it('serves health, metrics and an OpenAPI document that matches the routes', async () => {
      assert.equal((await call('GET', '/livez')).status, 200);
      assert.equal((await call('GET', '/readyz')).status, 200);
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      assert.match(metrics, /pulse_http_request_duration_seconds_bucket\{.*route="\/api\/v1\/services"/);
      assert.match(metrics, /pulse_write_events_total\{type="service.registered",service="write"\} \d+/);

      const doc = (await call('GET', '/openapi.json')).body as {
        paths: Record<string, Record<string, unknown>>;
      };
      const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
      );
      assert.deepEqual(documented.sort(), [
        'DELETE /api/v1/tenants/{tenant_id}/api-keys/{key_id}',
        'POST /api/v1/metrics/process',
        'POST /api/v1/metrics/system',
        'POST /api/v1/metrics/system/batch',
        'POST /api/v1/services',
        'POST /api/v1/services/{id}/heartbeats',
        'POST /api/v1/tenants',
        'POST /api/v1/tenants/{tenant_id}/api-keys',
        'PUT /api/v1/tenants/{tenant_id}/alert-rules',
      ]);
      // Every documented route exists: without a key it is refused (401), not unknown (404).
      for (const route of documented) {
        const [method, path] = route.split(' ') as [string, string];
        const concrete = path.replace(/\{\w+\}/g, randomUUID());
        const reply = await call(method, concrete, { body: {} });
        assert.equal(reply.status, 401, route);
      }
      assert.equal((await api('GET', '/nothing-here')).status, 404);
    });

    it('limits each key with a token bucket and answers 429 with Retry-After', async () => {
      const limited = await startWrite({
        PULSE_RATE_LIMIT_PER_SECOND: '1',
        PULSE_RATE_LIMIT_BURST: '3',
      });
      try {
        const statuses: number[] = [];
        let retryAfter: string | null = null;
        for (let i = 0; i < 5; i++) {
          const response = await fetch(`${limited.url}/api/v1/services/${serviceA}/heartbeats`, {
            method: 'POST',
            headers: { 'X-API-Key': writerA },
          });
          statuses.push(response.status);
          if (response.status === 429) retryAfter = response.headers.get('retry-after');
          await response.body?.cancel();
        }
        assert.deepEqual(statuses.slice(0, 3), [202, 202, 202]);
        assert.equal(statuses[4], 429);
        assert.ok(Number(retryAfter) >= 1);
        const other = await fetch(`${limited.url}/api/v1/services/${serviceA}/heartbeats`, {
          method: 'POST',
          headers: { 'X-API-Key': (await issueKey(tenantA, ['write'])).key },
        });
        assert.equal(other.status, 202, 'another key has its own bucket');
      } finally {
        assert.equal(await drain(limited), 0);
      }
    });

    it('binds only the address PULSE_HTTP_HOST names (the harness: 127.0.0.1)', () => {
      const port = Number(new URL(service.url).port);
      // /proc/net/tcp lists listening sockets (state 0A) as hex "address:port", the address little-endian.
      const listening = readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields[3] === '0A' && parseInt(fields[1]?.split(':')[1] ?? '', 16) === port)
        .map((fields) => fields[1]?.split(':')[0]);
      assert.deepEqual(listening, ['0100007F'], 'one listening socket, on 127.0.0.1');
    });

    it('stops at start with a message naming a bad setting', async () => {
      // Not startService: this process must fail before it is ever ready.
      const child = spawn(process.execPath, [serviceEntry('write')], {
        env: { ...process.env, PULSE_WRITE_DATABASE_URL: 'mysql://x', PULSE_HTTP_PORT: 'eighty' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(code, 1);
      assert.match(stderr, /PULSE_HTTP_PORT="eighty"/);
      // Named, but not shown: a database URL may carry a password.
      assert.match(stderr, /PULSE_WRITE_DATABASE_URL=\(hidden: a secret\)/);
      assert.doesNotMatch(stderr, /mysql/);
    });
  });
});

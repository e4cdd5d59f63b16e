/**
 * The replicator against real PostgreSQL and Kafka: the relay's commit-safe read of the outbox,
 * exactly-once projection across kill -9 and republishing, dead letters, and relay failover.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { OUTBOX_CHANNEL } from '@pulse/core';
import { purgePublished } from '@pulse/replicator';
import kafkajs, { AssignerProtocol, Partitioners, type PartitionAssigner } from 'kafkajs';
import { kafkaClient } from '../harness/components/kafka.js';
import { testStack, suiteScope, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import { repoRoot } from '../harness/tools.js';

const run = promisify(execFile);
const { ConfigResourceTypes } = kafkajs;
import type { RunningService } from '../harness/services.js';
import {
  eventIdAt,
  insertOutbox,
  metricValue,
  migrateWriteDb,
  sampleAt,
  scalar,
  startReplicator,
  systemEvent,
  UNPUBLISHED,
  type OutboxEvent,
  scopeWithWriteDb,
} from './support/pipeline.js';

describe('replicator: relay and projectors', () => {
  let stack: TestStack;
  let scope: Record<string, string>;
  let writeDb: pg.Client;
  let projectionDb: pg.Client;
  const running: RunningService[] = [];
  const tenantId = randomUUID();

  before(async () => {
    stack = await testStack(['postgres', 'kafka']);
    ({ scope, writeDb } = await scopeWithWriteDb(stack, 'replicator'));
    running.push(await startReplicator(stack, scope));
    projectionDb = new pg.Client({ connectionString: scope.PULSE_PROJECTION_DATABASE_URL });
    await projectionDb.connect();
  });
  after(async () => {
    for (const service of running) await service.stop();
    await writeDb.end();
    await projectionDb.end();
    await stack.release();
  });

  const appliedCount = () => scalar(projectionDb, 'select count(*) as n from applied_events');
  const waitApplied = (n: number, timeoutMs = 60_000) =>
    waitFor(`${n} events applied`, async () => (await appliedCount()) >= n, { timeoutMs, intervalMs: 200 });

  /**
   * The projection of these services equals their events exactly: each applied once (counted from
   * `before`), every sample counted once, CPU sum and max, and latest by observed_at per service.
   */
  async function assertReconciled(services: string[], events: OutboxEvent[], before: number): Promise<void> {
    assert.equal(await appliedCount(), before + events.length, 'each event applied once');
    const { rows } = await projectionDb.query<{ samples: string; cpu_sum: number; cpu_max: number }>(
      `select sum(samples) as samples, sum(cpu_usage_sum) as cpu_sum, max(cpu_usage_max) as cpu_max
         from metrics_hourly where service_id = any($1::uuid[])`,
      [services],
    );
    const samples = events.flatMap((e) => e.samples);
    const [totals] = rows;
    assert.ok(totals);
    assert.equal(Number(totals.samples), samples.length, 'every sample counted once');
    assert.equal(
      totals.cpu_sum,
      samples.reduce((sum, s) => sum + s.cpu_usage, 0),
    );
    assert.equal(totals.cpu_max, Math.max(...samples.map((s) => s.cpu_usage)));
    const newest = new Map<string, number>();
    for (const event of events)
      for (const sample of event.samples)
        newest.set(
          event.serviceId,
          Math.max(newest.get(event.serviceId) ?? 0, Date.parse(sample.observed_at)),
        );
    const latest = await projectionDb.query<{ service_id: string; observed_at: Date }>(
      'select service_id, observed_at from metrics_latest where service_id = any($1::uuid[])',
      [services],
    );
    assert.equal(latest.rows.length, services.length);
    for (const row of latest.rows)
      assert.equal(
        row.observed_at.getTime(),
        newest.get(row.service_id),
        `latest by observed_at of ${row.service_id}`,
      );
  }

  it('never publishes past a transaction that is still open, and loses nothing when it commits', async () => {
    const serviceId = randomUUID();
    const late = new pg.Client({ connectionString: scope.PULSE_WRITE_DATABASE_URL });
    await late.connect();
    const lateEvent = systemEvent(tenantId, serviceId, [sampleAt(new Date(), 10)]);
    await late.query('begin');
    await insertOutbox(late, [lateEvent]); // takes the smaller transaction id, commits last
    const early = [1, 2, 3].map((n) =>
      systemEvent(tenantId, serviceId, [sampleAt(new Date(Date.now() + n), 20)]),
    );
    await insertOutbox(writeDb, early);
    const earlyCommittedAt = new Date();
    // Proof that the relay looked at the outbox after the early rows committed.
    await waitFor(
      'a relay poll after the early commit',
      async () => {
        const polled = await scalar(
          writeDb,
          `select count(*) as n from pg_stat_activity
          where application_name = 'pulse-relay' and query like '%pg_snapshot_xmin%' and query_start > $1 and state = 'idle'`,
          [earlyCommittedAt],
        );
        return polled > 0;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    assert.equal(
      await scalar(
        writeDb,
        `select count(*) as n from outbox where not ${UNPUBLISHED} and aggregate_id = $1`,
        [serviceId],
      ),
      0,
      'rows above the open transaction wait for it',
    );
    await late.query('commit');
    await late.end();
    await waitFor(
      'all four rows published',
      async () =>
        (await scalar(
          writeDb,
          `select count(*) as n from outbox where ${UNPUBLISHED} and aggregate_id = $1`,
          [serviceId],
        )) === 0,
      { timeoutMs: 15_000 },
    );
    await waitFor(
      'all four applied',
      async () =>
        (await scalar(projectionDb, 'select samples as n from metrics_hourly where service_id = $1', [
          serviceId,
        ])) === 4,
      { timeoutMs: 15_000 },
    );
  });

  it('purges published rows past the retention, and keeps the newer ones', async () => {
    // A write DB of its own: the rest of this suite takes the outbox for the truth of what was sent.
    const { scope: own, writeDb: db } = await scopeWithWriteDb(stack, 'outbox_purge');
    const replicator = await startReplicator(stack, own, 'replicator-purge');
    try {
      const serviceId = randomUUID();
      const twoDaysAgo = Date.now() - 48 * 3_600_000;
      const old = [1, 2, 3].map((n) => ({
        ...systemEvent(tenantId, serviceId, [sampleAt(new Date(twoDaysAgo + n), 5)]),
        id: eventIdAt(twoDaysAgo + n),
      }));
      const recent = [1, 2].map((n) =>
        systemEvent(tenantId, serviceId, [sampleAt(new Date(Date.now() + n), 6)]),
      );
      await insertOutbox(db, [...old, ...recent]);
      const remaining = (events: OutboxEvent[]) =>
        scalar(db, 'select count(*) as n from outbox where id = any($1::uuid[])', [events.map((e) => e.id)]);
      await waitFor(
        'all five published',
        async () => (await scalar(db, `select count(*) as n from outbox where ${UNPUBLISHED}`)) === 0,
        { timeoutMs: 15_000 },
      );
      // Written two days ago, as far as the outbox can tell; the retention is 24 h.
      await db.query(
        `update outbox set created_at = now() - interval '47 hours' where id = any($1::uuid[])`,
        [old.map((e) => e.id)],
      );
      await waitFor('the old rows purged', async () => (await remaining(old)) === 0, { timeoutMs: 15_000 });
      assert.equal(await remaining(recent), recent.length, 'rows written just now stay');
    } finally {
      await db.end();
      await replicator.stop();
    }
  });

  it('purges every row due in chunks, no newer or unpublished row, and the old marks but the latest', async () => {
    // No relay on this database: the test writes the marks itself.
    const { writeDb: db } = await scopeWithWriteDb(stack, 'outbox_purge_chunks');
    try {
      const serviceId = randomUUID();
      const twoDaysAgo = Date.now() - 48 * 3_600_000;
      const madeThen = (n: number) => ({
        ...systemEvent(tenantId, serviceId, [sampleAt(new Date(twoDaysAgo + n), 5)]),
        id: eventIdAt(twoDaysAgo + n),
      });
      const due = [1, 2, 3, 4, 5, 6, 7].map(madeThen);
      const recent = [1, 2].map((n) =>
        systemEvent(tenantId, serviceId, [sampleAt(new Date(Date.now() + n), 6)]),
      );
      await insertOutbox(db, [...due, ...recent]);
      // A later transaction: after the mark below, so not published, however old.
      const unpublished = [madeThen(8)];
      await insertOutbox(db, unpublished);
      const writtenLongAgo = (events: OutboxEvent[]) =>
        db.query(`update outbox set created_at = now() - interval '47 hours' where id = any($1::uuid[])`, [
          events.map((e) => e.id),
        ]);
      await writtenLongAgo([...due, ...unpublished]);
      // Marks the last of the events (in (txid, id) order) published, at `markedAt`.
      const markUpTo = async (events: OutboxEvent[], markedAt: string) => {
        const { rows } = await db.query<{ id: string }>(
          `insert into relay_marks (txid, id, marked_at)
           select txid, id, ${markedAt} from outbox where id = any($1::uuid[]) order by txid desc, id desc limit 1
           returning id`,
          [events.map((e) => e.id)],
        );
        return rows[0]?.id;
      };
      await markUpTo(due.slice(0, 3), `now() - interval '47 hours'`);
      const latestMark = await markUpTo([...due, ...recent], 'now()');
      const remaining = (events: OutboxEvent[]) =>
        scalar(db, 'select count(*) as n from outbox where id = any($1::uuid[])', [events.map((e) => e.id)]);

      assert.equal(await purgePublished(db, 24, { chunk: 3, budgetMs: 60_000 }), due.length, 'three chunks');
      assert.equal(await remaining(due), 0);
      assert.equal(await remaining(unpublished), 1, 'an unpublished row stays, however old');
      assert.equal(await remaining(recent), recent.length, 'rows written within the retention stay');
      const { rows: marks } = await db.query<{ id: string }>('select id from relay_marks order by txid, id');
      assert.deepEqual(
        marks.map((m) => m.id),
        ['00000000-0000-0000-0000-000000000000', latestMark],
        'the old mark purged; the latest kept, and the newer one from the migration',
      );
    } finally {
      await db.end();
    }
  });

  it("keeps a service's status and alerts as its latest sample and its tenant's rules say, registered or not", async () => {
    // Services whose registrations never arrive (as in a rebuild from the write DB): their status
    // rows are made by the samples. A rule change re-evaluates a service that sent nothing new.
    const tenant = randomUUID();
    const [hot, warm] = [randomUUID(), randomUUID()];
    const at = (minute: number) => new Date(Date.UTC(2026, 10, 23, 10, minute));
    // The newest sample of `hot` (minute 15) arrives before an older one.
    for (const [serviceId, minute, cpu] of [
      [hot, 5, 20],
      [hot, 15, 95],
      [hot, 10, 30],
      [warm, 5, 50],
    ] as const)
      await insertOutbox(writeDb, [systemEvent(tenant, serviceId, [sampleAt(at(minute), cpu)])]);
    const status = async (serviceId: string) =>
      (
        await projectionDb.query<{
          tenant_id: string;
          latest_observed_at: Date | null;
          cpu_usage: number | null;
          cpu_usage_avg_1h: number | null;
          open_alerts: number;
        }>(
          `select tenant_id, latest_observed_at, cpu_usage, cpu_usage_avg_1h, open_alerts
             from services_status where service_id = $1`,
          [serviceId],
        )
      ).rows[0];
    const openRules = async (serviceId: string) =>
      (
        await projectionDb.query<{ rule: string }>(
          `select rule from alerts where service_id = $1 and state = 'open' order by rule`,
          [serviceId],
        )
      ).rows.map((row) => row.rule);
    await waitFor(
      'the four samples applied',
      async () =>
        (await scalar(
          projectionDb,
          'select coalesce(sum(samples), 0) as n from metrics_hourly where service_id = any($1::uuid[])',
          [[hot, warm]],
        )) === 4,
      { timeoutMs: 30_000 },
    );
    assert.deepEqual(await status(hot), {
      tenant_id: tenant,
      latest_observed_at: at(15),
      cpu_usage: 95,
      cpu_usage_avg_1h: (20 + 95 + 30) / 3,
      open_alerts: 1,
    });
    assert.deepEqual(await openRules(hot), ['cpu']);
    assert.deepEqual(await status(warm), {
      tenant_id: tenant,
      latest_observed_at: at(5),
      cpu_usage: 50,
      cpu_usage_avg_1h: 50,
      open_alerts: 0,
    });

    await writeDb.query(
      `insert into outbox (id, type, version, tenant_id, aggregate_id, occurred_at, payload)
       values ($1, 'tenant.alert_rules.updated', 1, $2, $2, now(), $3)`,
      [
        randomUUID(),
        tenant,
        {
          rules: {
            cpu_usage_above: 40,
            memory_usage_above: 90,
            disk_usage_above: 95,
            heartbeat_missing_seconds: 60,
          },
        },
      ],
    );
    await writeDb.query('select pg_notify($1, $2)', [OUTBOX_CHANNEL, '']);
    await waitFor(
      'the lower CPU rule applied to the quiet service',
      async () => (await status(warm))?.open_alerts === 1,
      {
        timeoutMs: 30_000,
      },
    );
    assert.deepEqual(await openRules(warm), ['cpu']);
    assert.deepEqual(await openRules(hot), ['cpu'], 'the alert already open stays the one open');
    assert.equal((await status(hot))?.open_alerts, 1);
  });

  it('publishes a backlog of several batches to Kafka once each, in outbox order per aggregate', async () => {
    // One transaction of 6,500 rows: the relay reads it as four batches, the next one read while
    // the previous one is with the broker.
    const services = Array.from({ length: 4 }, () => randomUUID());
    const base = Date.UTC(2026, 10, 22, 8, 0, 0);
    const events = Array.from({ length: 6_500 }, (_, i) =>
      systemEvent(tenantId, services[i % services.length] ?? '', [sampleAt(new Date(base + i), i % 100)]),
    );
    await insertOutbox(writeDb, events);
    const { rows: outboxOrder } = await writeDb.query<{ id: string; aggregate_id: string }>(
      'select id, aggregate_id from outbox where aggregate_id = any($1::uuid[]) order by txid, id',
      [services],
    );
    assert.equal(outboxOrder.length, events.length);

    const received = new Map<string, string[]>(services.map((id) => [id, []]));
    let count = 0;
    const kafka = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '', 'relay-order-test');
    const consumer = kafka.consumer({ groupId: `relay-order-${randomUUID()}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: scope.PULSE_KAFKA_TOPIC ?? '', fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const ids = received.get(String(message.key));
        if (ids) {
          ids.push(String(message.headers?.['pulse-event-id']));
          count++;
        }
        return Promise.resolve();
      },
    });
    try {
      await waitFor(`${events.length} events in Kafka`, () => count >= events.length, { timeoutMs: 60_000 });
      await waitFor(
        'every row marked published',
        async () =>
          (await scalar(
            writeDb,
            `select count(*) as n from outbox where ${UNPUBLISHED} and aggregate_id = any($1::uuid[])`,
            [services],
          )) === 0,
        { timeoutMs: 15_000 },
      );
    } finally {
      await consumer.disconnect();
    }
    // Applied as well, so that the next test counts only its own events.
    await waitFor(
      'the backlog applied',
      async () =>
        (await scalar(
          projectionDb,
          'select sum(samples) as n from metrics_hourly where service_id = any($1::uuid[])',
          [services],
        )) === events.length,
      { timeoutMs: 60_000 },
    );
    for (const serviceId of services)
      assert.deepEqual(
        received.get(serviceId),
        outboxOrder.filter((row) => row.aggregate_id === serviceId).map((row) => row.id),
        `service ${serviceId}: each event once, in outbox order`,
      );
  });

  it('creates its topic with room for the largest event a request makes, and carries one end to end', async () => {
    const admin = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '', 'topic-config-test').admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: scope.PULSE_KAFKA_TOPIC ?? '',
            configNames: ['max.message.bytes'],
          },
        ],
      });
      assert.equal(resources[0]?.configEntries[0]?.configValue, String(8 * 1024 * 1024));
    } finally {
      await admin.disconnect();
    }
    // A batch request's most samples for one service, with every field at its longest: more than
    // the broker's default max.message.bytes of 1 MiB.
    const serviceId = randomUUID();
    const base = Date.UTC(2026, 10, 22, 7, 0, 0);
    const samples = Array.from({ length: 5_000 }, (_, i) => ({
      ...sampleAt(new Date(base + i), 12.345678901234567),
      memory_usage: 45.67890123456789,
      disk_usage: 78.90123456789013,
      load_avg: 1.2345678901234567,
      network_rx_bytes: Number.MAX_SAFE_INTEGER,
      network_tx_bytes: Number.MAX_SAFE_INTEGER,
      gpu_usage: 99.99999999999999,
    }));
    const event = systemEvent(tenantId, serviceId, samples);
    assert.ok(JSON.stringify(samples).length > 1024 * 1024, 'the event is larger than 1 MiB');
    await insertOutbox(writeDb, [event]);
    await waitFor(
      'its 5,000 samples projected',
      async () =>
        (await scalar(projectionDb, 'select samples as n from metrics_hourly where service_id = $1', [
          serviceId,
        ])) === 5_000,
      { timeoutMs: 60_000 },
    );
  });

  it('applies every event exactly once across kill -9 mid-stream and republished rows', async () => {
    const services = Array.from({ length: 12 }, () => randomUUID());
    const base = Date.UTC(2026, 10, 21, 10, 0, 0);
    const events: OutboxEvent[] = [];
    for (let i = 0; i < 1_500; i++) {
      const serviceId = services[i % services.length] ?? '';
      events.push(
        systemEvent(tenantId, serviceId, [
          sampleAt(new Date(base + i * 1000), i % 100),
          sampleAt(new Date(base + i * 1000 + 500), (i * 7) % 100),
        ]),
      );
    }
    const before = await appliedCount();
    const insertInHundreds = async (part: OutboxEvent[]) => {
      for (let i = 0; i < part.length; i += 100) await insertOutbox(writeDb, part.slice(i, i + 100));
    };
    // One event per service first, applied: every partition the backlog reaches then has a stored
    // offset, without which a partition's batch never shares a transaction (a partition never
    // applied goes alone, and so do the others of its fetch).
    await insertOutbox(writeDb, events.slice(0, services.length));
    await waitApplied(before + services.length);
    const half = events.length / 2;
    await insertInHundreds(events.slice(services.length, half));

    const victim = running.shift();
    assert.ok(victim);
    await waitFor('the projection to be mid-stream', async () => (await appliedCount()) - before >= 112, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    process.kill(victim.process.pid, 'SIGKILL');
    await victim.stop();
    // A fast victim may have caught up before the kill; the second half is then still a backlog
    // across every service's partition that the restarted replicator must take over.
    await insertInHundreds(events.slice(half));
    // A relay that died between the broker's acknowledgement and the mark publishes rows again:
    // every mark since this test's first event undone, so rows already applied come again.
    await writeDb.query(
      `delete from relay_marks where (txid, id) >= (
         select txid, id from outbox where aggregate_id = any($1::uuid[]) order by txid, id limit 1)`,
      [services],
    );
    const restarted = await startReplicator(stack, scope, 'replicator-2');
    running.push(restarted);
    await waitApplied(before + events.length, 120_000);
    await waitFor(
      'the outbox drained',
      async () => (await scalar(writeDb, `select count(*) as n from outbox where ${UNPUBLISHED}`)) === 0,
      { timeoutMs: 30_000 },
    );

    await assertReconciled(services, events, before);
    assert.ok(
      ((await metricValue(restarted.url, 'pulse_projection_duplicates_total')) ?? 0) > 0,
      'the republished rows were seen and skipped',
    );
    // The backlog spans the partitions of 12 services: batches of one fetch shared transactions.
    const batches =
      (await metricValue(restarted.url, 'pulse_projection_partitions_per_transaction_sum')) ?? 0;
    const transactions =
      (await metricValue(restarted.url, 'pulse_projection_partitions_per_transaction_count')) ?? 0;
    assert.ok(batches > transactions, `${batches} partition batches in ${transactions} transactions`);
  });

  it('applies every event exactly once when killed -9 inside its transaction, three times under load', async () => {
    const services = Array.from({ length: 12 }, () => randomUUID());
    const base = Date.UTC(2026, 10, 23, 10, 0, 0);
    const events: OutboxEvent[] = [];
    /** Events for every service, 50 per transaction (as one batch request of 50 services would write them). */
    const write = async (count: number) => {
      const chunk = Array.from({ length: count }, (_, k) => {
        const i = events.length + k;
        return systemEvent(tenantId, services[i % services.length] ?? '', [
          sampleAt(new Date(base + i * 1000), (i * 7) % 100),
        ]);
      });
      events.push(...chunk);
      for (let i = 0; i < chunk.length; i += 50) await insertOutbox(writeDb, chunk.slice(i, i + 50));
    };
    const before = await appliedCount();
    await write(240);
    await waitApplied(before + events.length);

    for (let round = 0; round < 3; round++) {
      // A row the projector must update, held: its transaction stops midway, with the events of
      // other services and partitions already written in it, and is killed there.
      const holder = new pg.Client({ connectionString: scope.PULSE_PROJECTION_DATABASE_URL });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('select 1 from metrics_latest where service_id = $1 for update', [
          services[round],
        ]);
        await write(240);
        await waitFor(
          'a projector transaction waiting for the held row',
          async () =>
            (await scalar(projectionDb, 'select count(*) as n from pg_locks where not granted')) > 0,
          { timeoutMs: 30_000, intervalMs: 20 },
        );
        const victim = running.shift();
        assert.ok(victim);
        process.kill(victim.process.pid, 'SIGKILL');
        await victim.stop();
      } finally {
        await holder.query('rollback');
        await holder.end();
      }
      running.push(await startReplicator(stack, scope, `replicator-killed-${round}`));
    }
    await write(240);
    await waitApplied(before + events.length, 120_000);

    await assertReconciled(services, events, before);
  });

  it('dead-letters a poison event and keeps applying its partition', async () => {
    const serviceId = randomUUID();
    const kafka = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '', 'poison-test');
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: scope.PULSE_KAFKA_TOPIC ?? '',
      messages: [{ key: serviceId, value: '{"not": "an event"' }],
    });
    await producer.disconnect();
    await insertOutbox(writeDb, [systemEvent(tenantId, serviceId, [sampleAt(new Date(), 55)])]);
    await waitFor(
      'the next event on the partition applied',
      async () =>
        (await scalar(projectionDb, 'select count(*) as n from metrics_latest where service_id = $1', [
          serviceId,
        ])) === 1,
      { timeoutMs: 30_000 },
    );
    const { rows } = await projectionDb.query<{ error: string; key: string; replayed_at: Date | null }>(
      'select error, key, replayed_at from dead_letters where key = $1',
      [serviceId],
    );
    assert.equal(rows.length, 1);
    assert.match(rows[0]?.error ?? '', /undecodable event/);
    assert.equal(rows[0]?.replayed_at, null);
  });

  it('hands the relay to a standby within seconds when the leader is killed', async () => {
    const standby = await startReplicator(stack, scope, 'replicator-standby');
    running.push(standby);
    const leaderOf = async () => {
      for (const r of running)
        if ((await metricValue(r.url, 'pulse_relay_leader').catch(() => 0)) === 1) return r;
      return undefined;
    };
    const leader = await waitFor('a relay leader', leaderOf, { timeoutMs: 10_000 });
    process.kill(leader.process.pid, 'SIGKILL');
    await leader.stop();
    running.splice(running.indexOf(leader), 1);
    const serviceId = randomUUID();
    await insertOutbox(writeDb, [systemEvent(tenantId, serviceId, [sampleAt(new Date(), 1)])]);
    const killedAt = Date.now();
    await waitFor(
      'the event published by the new leader',
      async () =>
        (await scalar(
          writeDb,
          `select count(*) as n from outbox where not ${UNPUBLISHED} and aggregate_id = $1`,
          [serviceId],
        )) === 1,
      { timeoutMs: 10_000 },
    );
    const takeoverMs = Date.now() - killedAt;
    // The dead member's partitions move to the survivor once its Kafka session times out.
    await waitFor(
      'the event applied',
      async () =>
        (await scalar(projectionDb, 'select count(*) as n from metrics_latest where service_id = $1', [
          serviceId,
        ])) === 1,
      { timeoutMs: 30_000 },
    );
    assert.ok(takeoverMs < 10_000, `relay takeover took ${takeoverMs} ms`);
    assert.ok(await leaderOf(), 'a survivor leads');
  });

  it('loses and doubles nothing while a second and a third projector join and leave under load', async () => {
    const services = Array.from({ length: 8 }, () => randomUUID());
    const before = await appliedCount();
    const writes = { on: true, events: 0 };
    const writer = (async () => {
      for (let round = 0; writes.on && round < 5_000; round++) {
        const batch = services.map((serviceId, i) =>
          systemEvent(tenantId, serviceId, [
            sampleAt(new Date(Date.UTC(2026, 10, 20, 0, 0, round, i)), (round + i) % 100),
          ]),
        );
        await insertOutbox(writeDb, batch);
        writes.events += batch.length;
      }
    })();
    const joined = [
      await startReplicator(stack, scope, 'replicator-join-1'),
      await startReplicator(stack, scope, 'replicator-join-2'),
    ];
    await waitFor(
      'the joiners to take partitions',
      async () => {
        const counts = await Promise.all(
          joined.map((r) => metricValue(r.url, 'pulse_projection_assigned_partitions')),
        );
        return counts.every((n) => (n ?? 0) > 0);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const [graceful, killed] = joined;
    assert.ok(graceful && killed);
    await graceful.stop(); // SIGTERM: finish the batch, commit, leave the group
    process.kill(killed.process.pid, 'SIGKILL');
    await killed.stop();
    writes.on = false;
    await writer;
    await waitApplied(before + writes.events, 90_000);
    assert.equal(await appliedCount(), before + writes.events, 'each event applied once');
    const { rows } = await projectionDb.query<{ samples: string | null }>(
      'select sum(samples) as samples from metrics_hourly where service_id = any($1::uuid[])',
      [services],
    );
    assert.equal(Number(rows[0]?.samples), writes.events, 'each sample counted once');
  });

  const replicatorCli = (args: string[]) =>
    run(process.execPath, [join(repoRoot, 'services/replicator/dist/cli.js'), ...args], {
      env: { ...process.env, ...stack.env, ...scope, PULSE_LOG_LEVEL: 'warn' },
    });

  it('replays a dead letter once it is fixed, and reports one that still fails', async () => {
    const serviceId = randomUUID();
    const kafka = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '', 'dead-letter-test');
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: scope.PULSE_KAFKA_TOPIC ?? '',
      messages: [
        { key: serviceId, value: JSON.stringify({ id: 'broken', type: 'metrics.system.recorded' }) },
      ],
    });
    await producer.disconnect();
    const letterId = await waitFor(
      'the dead letter',
      async () =>
        (
          await projectionDb.query<{ id: string }>('select id::text from dead_letters where key = $1', [
            serviceId,
          ])
        ).rows[0]?.id,
      { timeoutMs: 30_000 },
    );
    await assert.rejects(
      replicatorCli(['dead-letters', 'replay', '--id', letterId]),
      (error: { stdout: string }) => {
        assert.match(error.stdout, /"stillFailing"/);
        assert.match(error.stdout, /id/);
        return true;
      },
    );
    // The fix: the producer's bug is understood and the event is corrected in place.
    const fixed = {
      id: randomUUID(),
      type: 'metrics.system.recorded',
      version: 1,
      tenant_id: tenantId,
      aggregate_id: serviceId,
      occurred_at: new Date().toISOString(),
      recorded_at: new Date().toISOString(),
      position: '1',
      traceparent: null,
      payload: { samples: [sampleAt(new Date(), 77)] },
    };
    await projectionDb.query('update dead_letters set value = $1 where id = $2', [
      JSON.stringify(fixed),
      letterId,
    ]);
    const replay = await replicatorCli(['dead-letters', 'replay', '--id', letterId]);
    assert.match(replay.stdout, /"replayed": 1/);
    assert.equal(
      await scalar(projectionDb, 'select cpu_usage as n from metrics_latest where service_id = $1', [
        serviceId,
      ]),
      77,
    );
    const again = await replicatorCli(['dead-letters', 'replay', '--id', letterId]);
    assert.match(again.stdout, /"replayed": 0/);
    assert.equal(
      await scalar(projectionDb, 'select samples as n from metrics_hourly where service_id = $1', [
        serviceId,
      ]),
      1,
    );
  });

  it('rebuilds every projection from the topic while writes go on, and the result matches the events', async () => {
    const services = Array.from({ length: 6 }, () => randomUUID());
    let written = 0;
    const writes = { on: true };
    const writer = (async () => {
      while (writes.on && written < 3_000) {
        const batch = services.map((serviceId, i) =>
          systemEvent(tenantId, serviceId, [
            sampleAt(new Date(Date.now() - i * 1000 - written * 10), written % 100),
          ]),
        );
        await insertOutbox(writeDb, batch);
        written += batch.length;
      }
    })();
    const rebuild = await replicatorCli(['rebuild', '--from', 'kafka', '--timeout', '300']);
    writes.on = false;
    await writer;
    assert.match(
      rebuild.stdout,
      /rebuilt from Kafka; the previous projection is kept as schema pulse_replaced_\d+/,
    );
    await waitFor(
      'the outbox drained',
      async () => (await scalar(writeDb, `select count(*) as n from outbox where ${UNPUBLISHED}`)) === 0,
      {
        timeoutMs: 30_000,
      },
    );
    // The truth for this suite is the outbox: every system event written, applied exactly once.
    const expected = await writeDb.query<{ service_id: string; samples: string; cpu: number }>(
      `select aggregate_id::text as service_id, count(*) as samples, sum((s ->> 'cpu_usage')::float8) as cpu
         from outbox, jsonb_array_elements(payload -> 'samples') as s
        where type = 'metrics.system.recorded' group by 1 order by 1`,
    );
    const projected = async () =>
      (
        await projectionDb.query<{ service_id: string; samples: string; cpu: number }>(
          `select service_id::text, sum(samples) as samples, sum(cpu_usage_sum) as cpu
             from metrics_hourly where service_id = any($1::uuid[]) group by 1 order by 1`,
          [expected.rows.map((row) => row.service_id)],
        )
      ).rows;
    await waitFor(
      'the projection to match the outbox',
      async () => JSON.stringify(await projected()) === JSON.stringify(expected.rows),
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(() => undefined); // on a timeout, the deepEqual below shows the difference
    assert.deepEqual(await projected(), expected.rows);
    assert.ok(written > 0);
  });

  it('starts its consumer again after kafkajs stops it for good, and loses nothing meanwhile', async () => {
    // kafkajs leaves a consumer stopped after an error it does not retry. Deterministically: a
    // member of the projector's group speaking only a protocol the projector lacks makes the
    // projector's JoinGroup fail with INCONSISTENT_GROUP_PROTOCOL, for as long as it stays.
    const own = await suiteScope(stack, 'projector_restart');
    await migrateWriteDb(own.PULSE_WRITE_DATABASE_URL ?? '');
    const kafka = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '', 'foreign-member');
    const admin = kafka.admin();
    await admin.connect();
    const foreignTopic = `foreign-${randomUUID()}`;
    await admin.createTopics({ topics: [{ topic: foreignTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const foreignProtocol: PartitionAssigner = () => ({
      name: 'ForeignAssigner',
      version: 1,
      assign: ({ members }) =>
        Promise.resolve(
          members.map(({ memberId }) => ({
            memberId,
            memberAssignment: AssignerProtocol.MemberAssignment.encode({
              version: 1,
              assignment: {},
              userData: Buffer.alloc(0),
            }),
          })),
        ),
      protocol: ({ topics }) => ({
        name: 'ForeignAssigner',
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      }),
    });
    const foreign = kafka.consumer({
      groupId: own.PULSE_PROJECTOR_GROUP ?? '',
      partitionAssigners: [foreignProtocol],
    });
    let foreignConnected = false;
    const writeOwn = new pg.Client({ connectionString: own.PULSE_WRITE_DATABASE_URL });
    const projectionOwn = new pg.Client({ connectionString: own.PULSE_PROJECTION_DATABASE_URL });
    try {
      await foreign.connect();
      foreignConnected = true;
      await foreign.subscribe({ topics: [foreignTopic] });
      let joined = false;
      foreign.on(foreign.events.GROUP_JOIN, () => (joined = true));
      await foreign.run({ autoCommit: false, eachMessage: () => Promise.resolve() });
      await waitFor('the foreign member to join the group', () => Promise.resolve(joined), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });

      const replicator = await startReplicator(stack, own, 'replicator-restart');
      running.push(replicator);
      const restarts = async () =>
        (await metricValue(replicator.url, 'pulse_projection_consumer_restarts_total')) ?? 0;
      await writeOwn.connect();
      await projectionOwn.connect();
      const services = [randomUUID(), randomUUID()];
      const base = Date.UTC(2026, 10, 21, 12, 0, 0);
      const events = Array.from({ length: 200 }, (_, i) =>
        systemEvent(tenantId, services[i % 2] ?? '', [sampleAt(new Date(base + i * 1000), i % 100)]),
      );
      await insertOutbox(writeOwn, events.slice(0, 100));
      await waitFor(
        'the projector stopped by kafkajs twice, started again each time',
        async () => (await restarts()) >= 2,
        {
          timeoutMs: 60_000,
          intervalMs: 200,
        },
      );
      const applied = () => scalar(projectionOwn, 'select count(*) as n from applied_events');
      assert.equal(await applied(), 0, 'nothing applied while the group refused the projector');

      await foreign.disconnect();
      foreignConnected = false;
      await insertOutbox(writeOwn, events.slice(100));
      await waitFor(`${events.length} events applied`, async () => (await applied()) >= events.length, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      assert.equal(await applied(), events.length, 'each event applied once');
      assert.equal(
        await scalar(projectionOwn, 'select sum(samples) as n from metrics_hourly'),
        events.length,
        'every sample counted once',
      );
    } finally {
      if (foreignConnected) await foreign.disconnect();
      await writeOwn.end();
      await projectionOwn.end();
    }
  });
});

/**
 * The relay's byte limits, against a topic whose max.message.bytes is small (as on a topic created
 * before Pulse with the broker's default): a read holds at most PULSE_RELAY_BATCH_BYTES of
 * payload, each read is split into sends the broker accepts, and an event larger than the topic
 * takes stops the relay before it, loses nothing, and goes out once the limit is raised. Real
 * PostgreSQL and Kafka.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import kafkajs, { type Admin } from 'kafkajs';
import { kafkaClient } from '../harness/components/kafka.js';
import type { RunningService } from '../harness/services.js';
import { testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import {
  insertOutbox,
  metricValue,
  sampleAt,
  scalar,
  startReplicator,
  systemEvent,
  UNPUBLISHED,
  scopeWithWriteDb,
} from './support/pipeline.js';

const { ConfigResourceTypes } = kafkajs;
const SMALL_LIMIT = 256 * 1024;
const READ_BYTES = 1024 * 1024;
const POLL_MS = 10_000;

describe('relay: a topic with a small max.message.bytes', () => {
  let stack: TestStack;
  let scope: Record<string, string>;
  let writeDb: pg.Client;
  let projectionDb: pg.Client;
  let admin: Admin;
  let replicator: RunningService;
  const tenantId = randomUUID();
  const topic = () => scope.PULSE_KAFKA_TOPIC ?? '';

  const setTopicLimit = (bytes: number) =>
    admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic(),
          configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
        },
      ],
    });

  before(async () => {
    stack = await testStack(['postgres', 'kafka']);
    ({ scope, writeDb } = await scopeWithWriteDb(stack, 'relay_limit'));
    admin = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '', 'relay-limit-test').admin();
    await admin.connect();
    // The topic exists before the replicator starts, so the relay keeps its setting.
    await admin.createTopics({
      topics: [
        {
          topic: topic(),
          numPartitions: 4,
          configEntries: [{ name: 'max.message.bytes', value: String(SMALL_LIMIT) }],
        },
      ],
      waitForLeaders: true,
    });
    replicator = await startReplicator(stack, scope, 'replicator', {
      PULSE_RELAY_BATCH_BYTES: String(READ_BYTES),
      // Rows reach the relay by NOTIFY (insertOutbox sends one); a relay that waited for its poll
      // between the reads of one backlog would miss the deadline below.
      PULSE_RELAY_POLL_INTERVAL_MS: String(POLL_MS),
    });
    projectionDb = new pg.Client({ connectionString: scope.PULSE_PROJECTION_DATABASE_URL });
    await projectionDb.connect();
  });
  after(async () => {
    await replicator.stop();
    await admin.disconnect();
    await writeDb.end();
    await projectionDb.end();
    await stack.release();
  });

  const manySamples = (serviceId: string, count: number, start: number) =>
    systemEvent(
      tenantId,
      serviceId,
      Array.from({ length: count }, (_, i) => sampleAt(new Date(start + i), i % 100)),
    );
  const projectedSamples = (services: string[]) =>
    scalar(
      projectionDb,
      'select coalesce(sum(samples), 0) as n from metrics_hourly where service_id = any($1::uuid[])',
      [services],
    );
  const unpublished = (ids: string[]) =>
    scalar(writeDb, `select count(*) as n from outbox where ${UNPUBLISHED} and id = any($1::uuid[])`, [ids]);

  it('reads a backlog in reads under the byte budget, each split into sends the broker accepts', async () => {
    // 2,000 events of about 1.2 kB on two services: about 2.5 MB in one relay batch, nine times
    // what the topic takes in one record batch, nearly all of it on two partitions.
    const services = [randomUUID(), randomUUID()];
    const start = Date.UTC(2026, 10, 22, 9, 0, 0);
    const events = Array.from({ length: 2_000 }, (_, i) =>
      manySamples(services[i % 2] ?? '', 8, start + i * 10),
    );
    const bytes = events.reduce((sum, event) => sum + JSON.stringify(event.samples).length, 0);
    assert.ok(bytes > 9 * SMALL_LIMIT, `the batch holds ${bytes} bytes of samples`);
    const publishes = async () =>
      (await metricValue(replicator.url, 'pulse_relay_publish_duration_seconds_count')) ?? 0;
    const publishedBefore = await publishes();
    await insertOutbox(writeDb, events);

    // Under two polls: the reads after the first follow each other at once, as each ended at the
    // byte limit, not after a notification or a poll.
    await waitFor('every row published', async () => (await unpublished(events.map((e) => e.id))) === 0, {
      timeoutMs: 1.5 * POLL_MS,
    });
    await waitFor('every sample projected once', async () => (await projectedSamples(services)) === 16_000, {
      timeoutMs: 60_000,
    });
    assert.equal(await projectedSamples(services), 16_000);
    // 2,000 rows fit the row limit of one read; 2.5 MB of payload take at least three of 1 MiB.
    const reads = (await publishes()) - publishedBefore;
    assert.ok(reads >= Math.ceil(bytes / READ_BYTES), `${reads} reads for ${bytes} bytes`);
  });

  it('stops before an event the topic cannot take, loses nothing, and sends it once the limit is raised', async () => {
    const [quiet, loud] = [randomUUID(), randomUUID()];
    const start = Date.UTC(2026, 10, 22, 10, 0, 0);
    const before = Array.from({ length: 20 }, (_, i) => manySamples(quiet, 1, start + i));
    // About 400 kB: more than the topic's 256 kB.
    const oversized = manySamples(loud, 2_500, start + 1_000);
    const later = [manySamples(quiet, 1, start + 10_000), manySamples(loud, 1, start + 10_001)];
    await insertOutbox(writeDb, before);
    await insertOutbox(writeDb, [oversized]);
    await insertOutbox(writeDb, later);

    await waitFor('the events before it projected', async () => (await projectedSamples([quiet])) === 20, {
      timeoutMs: 30_000,
    });
    await waitFor(
      'the relay to name the event it cannot send',
      () => readFileSync(replicator.process.logFile, 'utf8').includes(`event ${oversized.id} needs up to`),
      { timeoutMs: 30_000 },
    );
    assert.equal(await unpublished(before.map((e) => e.id)), 0, 'the events before it went out');
    assert.equal(
      await unpublished([oversized.id, ...later.map((e) => e.id)]),
      3,
      'it and the later events wait',
    );

    await setTopicLimit(1024 * 1024);
    await waitFor(
      'the rest published',
      async () => (await unpublished([oversized.id, ...later.map((e) => e.id)])) === 0,
      { timeoutMs: 30_000 },
    );
    await waitFor(
      'every sample projected once',
      async () => (await projectedSamples([quiet, loud])) === 20 + 2_500 + 2,
      { timeoutMs: 30_000 },
    );
    assert.equal(await projectedSamples([loud]), 2_501);
  });
});

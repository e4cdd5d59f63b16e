/**
 * The relay after the broker has lost its producer's sequence state, forced: a send that the
 * broker kept but answered with OUT_OF_ORDER_SEQUENCE_NUMBER, and every later send of that
 * producer refused, as after a broker restart cut a send off. The relay must drop that producer,
 * start a new one and publish everything, doubling only the cut-off send. A relay in this process
 * (so the producer can be made to fail) against real PostgreSQL and Kafka, on a write DB of its
 * own: the advisory lock is per database, so no other relay competes for it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import kafkajs, { type Admin, type Kafka, type Producer, type ProducerRecord } from 'kafkajs';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { createLogger } from '@pulse/core';
import { createRelayMetrics, createRelayProducer, Relay } from '@pulse/replicator';
import { kafkaClient } from '../harness/components/kafka.js';
import { testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import {
  insertOutbox,
  sampleAt,
  scalar,
  systemEvent,
  UNPUBLISHED,
  scopeWithWriteDb,
} from './support/pipeline.js';

// kafkajs is CommonJS and spreads its error classes into its exports, which ESM cannot name.
const { KafkaJSProtocolError } = kafkajs;

const EVENTS = 400;
const SERVICES = 8;
const BATCH_ROWS = 50;
/** The send of the first producer that the broker keeps and then answers with the lost sequence. */
const CUT_OFF_SEND = 3;

/** The error kafkajs raises from the broker's answer, as the broker sends it after a restart. */
const outOfOrderSequence = () =>
  new KafkaJSProtocolError({
    type: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
    code: 45,
    retriable: false,
    message: 'The broker received an out of order sequence number',
  } as unknown as string);

interface ProducerLog {
  made: number;
  disconnected: number;
  /** The event ids of the send the broker kept but the relay saw fail. */
  cutOff: string[];
}

/**
 * Real idempotent producers, the first of which loses its state at its CUT_OFF_SEND-th send: that
 * send reaches the broker and still fails, and each later send of it fails without reaching it.
 */
function producersLosingStateOnce(kafka: Kafka, log: ProducerLog): () => Producer {
  return () => {
    const real = createRelayProducer(kafka);
    log.made += 1;
    if (log.made > 1) return real;
    let sends = 0;
    return {
      ...real,
      send: async (record: ProducerRecord) => {
        sends += 1;
        if (sends > CUT_OFF_SEND) throw outOfOrderSequence();
        const acknowledged = await real.send(record);
        if (sends < CUT_OFF_SEND) return acknowledged;
        log.cutOff.push(...record.messages.map((message) => String(message.headers?.['pulse-event-id'])));
        throw outOfOrderSequence();
      },
      disconnect: async () => {
        log.disconnected += 1;
        await real.disconnect();
      },
    };
  };
}

interface Published {
  partition: number;
  offset: number;
  key: string;
  eventId: string;
}

describe('relay: a producer whose state the broker lost', () => {
  let stack: TestStack;
  let scope: Record<string, string>;
  let writeDb: pg.Client;
  let admin: Admin;
  let kafka: Kafka;
  const topic = () => scope.PULSE_KAFKA_TOPIC ?? '';

  before(async () => {
    stack = await testStack(['postgres', 'kafka']);
    ({ scope, writeDb } = await scopeWithWriteDb(stack, 'relay_reset'));
    kafka = kafkaClient(stack.env.PULSE_KAFKA_BROKERS ?? '');
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topic(), numPartitions: 4 }], waitForLeaders: true });
  });
  after(async () => {
    await admin.deleteTopics({ topics: [topic()] }).catch(() => undefined);
    await admin.disconnect();
    await writeDb.end();
    await stack.release();
  });

  /** Every record on the topic, read from the start until `count` have arrived. */
  async function readTopic(count: number): Promise<Published[]> {
    const consumer = kafka.consumer({ groupId: `relay-reset-check-${randomUUID()}` });
    const records: Published[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: topic(), fromBeginning: true });
      await consumer.run({
        eachMessage: ({ partition, message }) => {
          records.push({
            partition,
            offset: Number(message.offset),
            key: String(message.key),
            eventId: String(message.headers?.['pulse-event-id']),
          });
          return Promise.resolve();
        },
      });
      await waitFor(`${count} records read back`, () => Promise.resolve(records.length >= count), {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    } finally {
      await consumer.disconnect();
    }
    return records;
  }

  it('replaces the producer, publishes every event, and doubles only the cut-off send', async () => {
    const tenantId = randomUUID();
    const services = Array.from({ length: SERVICES }, () => randomUUID());
    // One transaction per event: the outbox order (txid, id) is then the order of insertion.
    for (let i = 0; i < EVENTS; i++) {
      const service = services[i % SERVICES] ?? '';
      await insertOutbox(writeDb, [
        systemEvent(tenantId, service, [sampleAt(new Date(Date.now() - 60_000), i % 100)]),
      ]);
    }
    const { rows: outbox } = await writeDb.query<{ id: string }>('select id from outbox order by txid, id');
    const outboxOrder = new Map(outbox.map((row, index) => [row.id, index]));

    const log: ProducerLog = { made: 0, disconnected: 0, cutOff: [] };
    const registry = new Registry();
    const metrics = createRelayMetrics(registry);
    const relay = new Relay({
      databaseUrl: scope.PULSE_WRITE_DATABASE_URL ?? '',
      createProducer: producersLosingStateOnce(kafka, log),
      topic: topic(),
      batch: { rows: BATCH_ROWS, bytes: 1024 * 1024 },
      messageLimit: () => Promise.resolve(1024 * 1024),
      pollIntervalMs: 100,
      logger: createLogger('relay-reset-test', 'silent'),
      metrics,
      tracer: trace.getTracer('relay-reset-test'),
    });
    relay.start();
    try {
      await waitFor(
        'every outbox row marked published',
        async () => (await scalar(writeDb, `select count(*) as n from outbox where ${UNPUBLISHED}`)) === 0,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    } finally {
      await relay.stop();
    }

    assert.equal(log.cutOff.length, BATCH_ROWS, 'the cut-off send carried one batch');
    assert.equal(log.made, 2, 'one new producer after the lost state, and no more');
    assert.equal(log.disconnected, 1, 'the producer the broker lost was closed');
    assert.equal(
      (await metrics.producerResets.get()).values[0]?.value,
      1,
      'pulse_relay_producer_resets_total',
    );

    // The topic holds exactly this many records, so reading that many reads all of them.
    const offsets = await admin.fetchTopicOffsets(topic());
    const onTopic = offsets.reduce((sum, { high }) => sum + Number(high), 0);
    assert.equal(
      onTopic,
      EVENTS + log.cutOff.length,
      'records on the topic: every event, and the cut-off send again',
    );
    const records = await readTopic(onTopic);
    const copies = new Map<string, number>();
    for (const { eventId } of records) copies.set(eventId, (copies.get(eventId) ?? 0) + 1);
    assert.deepEqual([...copies.keys()].sort(), [...outboxOrder.keys()].sort(), 'every event published');
    const doubled = [...copies].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(doubled.sort(), [...log.cutOff].sort(), 'only the cut-off send published twice');
    assert.ok(
      [...copies.values()].every((n) => n <= 2),
      'no event published more than twice',
    );

    // Each aggregate's events, first copies in offset order, are in outbox order.
    const byKey = new Map<string, Published[]>();
    for (const record of [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      byKey.set(record.key, [...(byKey.get(record.key) ?? []), record]);
    }
    assert.equal(byKey.size, SERVICES);
    for (const [key, published] of byKey) {
      const seen = new Set<string>();
      const firsts = published.filter(({ eventId }) => !seen.has(eventId) && seen.add(eventId));
      const positions = firsts.map(({ eventId }) => outboxOrder.get(eventId) ?? -1);
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => a - b),
        `events of ${key} in outbox order`,
      );
    }
  });
});

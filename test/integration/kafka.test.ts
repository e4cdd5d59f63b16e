import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { kafkaClient } from '../harness/components/kafka.js';
import { testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';

describe('local stack: Kafka (KRaft, single node)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await testStack(['kafka']);
  });
  after(async () => {
    await stack.release();
  });

  it('round-trips keyed messages through an idempotent producer, in order per key', async () => {
    const brokers = stack.env.PULSE_KAFKA_BROKERS;
    assert.ok(brokers);
    const kafka = kafkaClient(brokers, 'harness-smoke');
    const topic = `harness-smoke-${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    await admin.disconnect();

    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const keys = ['a', 'b', 'c', 'd'];
    const sent = keys.flatMap((key) => [0, 1, 2, 3, 4].map((n) => ({ key, value: `${key}-${n}` })));
    await producer.send({ topic, acks: -1, messages: sent });
    await producer.disconnect();

    const received: { key: string; value: string; partition: number }[] = [];
    const consumer = kafka.consumer({ groupId: `harness-smoke-${randomUUID()}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message, partition }) => {
        received.push({ key: String(message.key), value: String(message.value), partition });
        return Promise.resolve();
      },
    });
    try {
      await waitFor(`${sent.length} messages back`, () => received.length >= sent.length, {
        timeoutMs: 30_000,
      });
    } finally {
      await consumer.disconnect();
    }
    assert.equal(received.length, sent.length, 'nothing doubled');
    for (const key of keys) {
      const ofKey = received.filter((m) => m.key === key);
      assert.deepEqual(
        ofKey.map((m) => m.value),
        [0, 1, 2, 3, 4].map((n) => `${key}-${n}`),
        `order of key ${key}`,
      );
      assert.equal(new Set(ofKey.map((m) => m.partition)).size, 1, `key ${key} stays on one partition`);
    }
  });
});

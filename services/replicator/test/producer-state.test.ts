import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { producerStateLost } from '../src/relay/relay.js';

// kafkajs is CommonJS and spreads its error classes into its exports, which ESM cannot name.
const { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

/** A broker error as kafkajs builds it from a response's error code. */
const brokerError = (type: string, message: string) =>
  new KafkaJSProtocolError({ type, code: 0, retriable: false, message } as unknown as string);

describe('relay: when the broker has lost the producer', () => {
  it('replaces the producer after the errors that fail every later send of its id', () => {
    for (const type of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH'])
      assert.equal(producerStateLost(brokerError(type, type)), true, type);
  });

  it('sees the error behind kafkajs retry wrapper', () => {
    const wrapped = new KafkaJSNumberOfRetriesExceeded(
      brokerError('OUT_OF_ORDER_SEQUENCE_NUMBER', 'The broker received an out of order sequence number'),
      { retryCount: 5, retryTime: 300 },
    );
    assert.equal(producerStateLost(wrapped), true);
  });

  it('keeps the producer after other failures: the broker down, a leader moving, a timeout', () => {
    assert.equal(
      producerStateLost(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092')),
      false,
    );
    assert.equal(producerStateLost(brokerError('NOT_LEADER_FOR_PARTITION', 'not the leader')), false);
    assert.equal(
      producerStateLost(
        new KafkaJSNumberOfRetriesExceeded(new Error('timeout'), { retryCount: 5, retryTime: 300 }),
      ),
      false,
    );
    assert.equal(producerStateLost('OUT_OF_ORDER_SEQUENCE_NUMBER'), false);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Partitioners, type PartitionerArgs, type PartitionMetadata } from 'kafkajs';
import { rememberingPartitioner } from '../src/kafka.js';

const metadata = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));

const args = (key: string, partitions: number): PartitionerArgs => ({
  topic: 'pulse.events',
  partitionMetadata: metadata(partitions),
  message: { key, value: '{}' },
});

describe('rememberingPartitioner', () => {
  it('picks what the Java-compatible partitioner picks, asked once or again', () => {
    const reference = Partitioners.DefaultPartitioner();
    const remembering = rememberingPartitioner(Partitioners.DefaultPartitioner, 8)();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uuid(), fc.integer({ min: 1, max: 64 })), { minLength: 1, maxLength: 40 }),
        (asks) => {
          // Each key twice, so that the second answer comes from memory (or after eviction).
          for (const [key, partitions] of [...asks, ...asks])
            assert.equal(remembering(args(key, partitions)), reference(args(key, partitions)));
        },
      ),
    );
  });

  it('asks again when the partition count changed, and leaves unkeyed messages to the partitioner', () => {
    const calls: string[] = [];
    const counting = rememberingPartitioner(() => ({ message, partitionMetadata }) => {
      calls.push(`${String(message.key)}/${partitionMetadata.length}`);
      return partitionMetadata.length - 1;
    })();
    assert.equal(counting(args('a', 12)), 11);
    assert.equal(counting(args('a', 12)), 11);
    assert.equal(counting(args('a', 24)), 23);
    counting({ topic: 't', partitionMetadata: metadata(12), message: { key: null, value: '{}' } });
    counting({ topic: 't', partitionMetadata: metadata(12), message: { key: null, value: '{}' } });
    assert.deepEqual(calls, ['a/12', 'a/24', 'null/12', 'null/12']);
  });
});

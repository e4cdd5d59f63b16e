import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  EventTooLargeError,
  fitsAlone,
  splitIntoSends,
  recordBytes,
  type OutgoingRecord,
} from '../src/relay/records.js';

// kafkajs's own record batch encoder (not part of its typed API), to hold the size bound against
// the bytes the broker will compare with max.message.bytes.
const require = createRequire(import.meta.url);
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (batch: { records: unknown[] }) => Promise<{ buffer: Buffer }>;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer;
  value: Buffer;
  headers: Record<string, Buffer>;
}) => unknown;

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function encodedBatchBytes(records: OutgoingRecord[]): Promise<number> {
  const encoded = records.map((record, offsetDelta) =>
    Record({
      offsetDelta,
      timestampDelta: 1_000 * offsetDelta,
      key: Buffer.from(record.key),
      value: Buffer.from(record.value),
      headers: Object.fromEntries(
        Object.entries({ ...record.headers, traceparent: TRACEPARENT }).map(([name, value]) => [
          name,
          Buffer.from(value),
        ]),
      ),
    }),
  );
  return (await RecordBatch({ records: encoded })).buffer.length;
}

const record = fc.record({
  eventId: fc.uuid(),
  key: fc.uuid(),
  // Multi-byte characters too: the limit is in bytes, not in UTF-16 code units.
  value: fc.string({ unit: 'grapheme', maxLength: 1_000, size: 'max' }),
  headers: fc.record({
    'pulse-event-id': fc.uuid(),
    'pulse-event-type': fc.constant('metrics.system.recorded'),
  }),
  traceparent: fc.constant(TRACEPARENT),
});

describe('splitIntoSends', () => {
  it('keeps every record once, in order, each send under the limit as kafkajs encodes it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 100, size: 'max' }),
        fc.integer({ min: 10_000, max: 40_000 }),
        async (records, limit) => {
          const sends = splitIntoSends(records, limit);
          assert.deepEqual(sends.flat(), records);
          for (const send of sends) {
            assert.ok(send.length > 0, 'no empty send');
            const bytes = await encodedBatchBytes(send);
            assert.ok(
              bytes <= limit,
              `a send of ${send.length} records encodes to ${bytes} bytes, over ${limit}`,
            );
          }
          // No send ends early: the next send's first record would not have fitted.
          for (let i = 0; i + 1 < sends.length; i++) {
            const joined = [...(sends[i] ?? []), sends[i + 1]?.[0]].filter((r) => r !== undefined);
            const estimate = joined.reduce((sum, r) => sum + recordBytes(r), 0);
            assert.ok(estimate + 128 > limit, `send ${i} could have taken one more record`);
          }
        },
      ),
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('names the event that is larger than the topic takes alone', () => {
    const small: OutgoingRecord = {
      eventId: 'small',
      key: 'k',
      value: 'x'.repeat(100),
      headers: {},
      traceparent: null,
    };
    const huge = { ...small, eventId: 'huge', value: 'x'.repeat(70_000) };
    assert.equal(fitsAlone(small, 65_536), true);
    assert.equal(fitsAlone(huge, 65_536), false);
    assert.throws(
      () => splitIntoSends([small, huge], 65_536),
      (error: unknown) =>
        error instanceof EventTooLargeError &&
        error.eventId === 'huge' &&
        error.limit === 65_536 &&
        /event huge needs up to \d+ bytes .* max\.message\.bytes of 65536/.test(error.message),
    );
  });
});

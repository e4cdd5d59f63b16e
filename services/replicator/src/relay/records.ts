/**
 * The Kafka records the relay sends, and how many fit into one send. kafkajs puts each
 * partition's records of one send into one record batch, and the broker refuses a batch larger
 * than the topic's max.message.bytes. Counting rows is not enough: one event can be megabytes (a
 * batch of 5,000 samples of one service), and 2,000 small ones on few partitions add up as well.
 * A send whose records together stay under the limit exceeds it on no partition.
 */
import { toEnvelope, type OutboxRow } from './outbox.js';

export interface OutgoingRecord {
  eventId: string;
  key: string;
  value: string;
  /** The event's id and type; the trace context is added when the record is sent. */
  headers: Record<string, string>;
  /** The write's trace, continued by a producer span when the record is sent. */
  traceparent: string | null;
}

/** The record batch's header (61 bytes in format v2), with room to spare. */
const BATCH_OVERHEAD_BYTES = 128;
/** A record's length, attributes, deltas and key and value lengths, all varints at their widest. */
const RECORD_OVERHEAD_BYTES = 32;
/** A header's key and value lengths. */
const HEADER_OVERHEAD_BYTES = 10;
/** The traceparent header added at send time: 11 + 55 bytes and its lengths, with room to spare. */
const TRACE_HEADERS_BYTES = 128;

export function toRecord(row: OutboxRow): OutgoingRecord {
  const envelope = toEnvelope(row);
  return {
    eventId: envelope.id,
    key: envelope.aggregate_id,
    value: JSON.stringify(envelope),
    headers: { 'pulse-event-id': envelope.id, 'pulse-event-type': envelope.type },
    traceparent: row.traceparent,
  };
}

/** An upper bound of the record's size in an uncompressed v2 record batch. */
export function recordBytes(record: OutgoingRecord): number {
  let bytes =
    RECORD_OVERHEAD_BYTES +
    TRACE_HEADERS_BYTES +
    Buffer.byteLength(record.key) +
    Buffer.byteLength(record.value);
  for (const [name, value] of Object.entries(record.headers))
    bytes += HEADER_OVERHEAD_BYTES + Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/**
 * An event the topic cannot take at all. The relay stops before it rather than skip it: skipping
 * would lose the event, and publish its aggregate's later events without it.
 */
export class EventTooLargeError extends Error {
  readonly eventId: string;
  readonly bytes: number;

  constructor(
    record: OutgoingRecord,
    readonly limit: number,
  ) {
    const bytes = recordBytes(record) + BATCH_OVERHEAD_BYTES;
    super(
      `event ${record.eventId} needs up to ${bytes} bytes as a Kafka record batch, more than the topic's ` +
        `max.message.bytes of ${limit}; raise the topic's max.message.bytes, the relay reads it again ` +
        'each time it takes the lead',
    );
    this.name = 'EventTooLargeError';
    this.eventId = record.eventId;
    this.bytes = bytes;
  }
}

export function fitsAlone(record: OutgoingRecord, maxMessageBytes: number): boolean {
  return recordBytes(record) + BATCH_OVERHEAD_BYTES <= maxMessageBytes;
}

/** Consecutive runs of the records, in order, each small enough for one send. */
export function splitIntoSends<R extends OutgoingRecord>(
  records: readonly R[],
  maxMessageBytes: number,
): R[][] {
  const budget = maxMessageBytes - BATCH_OVERHEAD_BYTES;
  const sends: R[][] = [];
  let current: R[] = [];
  let currentBytes = 0;
  for (const record of records) {
    const bytes = recordBytes(record);
    if (bytes > budget) throw new EventTooLargeError(record, maxMessageBytes);
    if (current.length > 0 && currentBytes + bytes > budget) {
      sends.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(record);
    currentBytes += bytes;
  }
  if (current.length > 0) sends.push(current);
  return sends;
}

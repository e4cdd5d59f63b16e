/**
 * Outbox relay: one process at a time (session advisory lock on the write DB) publishes committed
 * outbox rows to Kafka, and marks them published only after the broker has acknowledged them.
 * A crash between the acknowledgement and the mark republishes the rows: consumers drop the
 * duplicates by event id. NOTIFY wakes the relay early; a timed poll catches a lost notification.
 */
import pg from 'pg';
import type { Producer } from 'kafkajs';
import { context, propagation, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { OUTBOX_CHANNEL, type Logger } from '@pulse/core';
import { Wake } from '../wake.js';
import {
  fetchCommittedBatch,
  lastMark,
  markPublished,
  mayHaveMore,
  type BatchLimit,
  type OutboxCursor,
} from './outbox.js';
import { EventTooLargeError, fitsAlone, splitIntoSends, toRecord, type OutgoingRecord } from './records.js';
import type { RelayMetrics } from '../metrics.js';

/** Any fixed 64-bit number; all relays of one write DB must agree on it. */
export const RELAY_LOCK_KEY = 7_180_215_001n;

export interface RelayOptions {
  databaseUrl: string;
  /** A new idempotent producer, not yet connected; the relay connects it and replaces it when needed. */
  createProducer: () => Producer;
  topic: string;
  batch: BatchLimit;
  /** The topic's max.message.bytes as the broker has it now; asked each time the relay takes the lead. */
  messageLimit: () => Promise<number>;
  pollIntervalMs: number;
  logger: Logger;
  metrics: RelayMetrics;
  tracer: Tracer;
}

/**
 * Errors after which the broker will refuse every further send of this producer: it no longer
 * agrees with the producer on the sequence numbers of its id (seen after a broker restart, when a
 * send was cut off mid-flight). kafkajs does not recover from them by itself; a new producer gets a
 * new id and starts its sequences again. Whatever the broker kept of the cut-off send is published
 * again by the next lead, and consumers drop it by event id.
 */
const PRODUCER_STATE_LOST = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

/** Whether a send failed because the broker lost this producer's state (also behind kafkajs' retry wrapper). */
export function producerStateLost(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    const { type } = cause as Error & { type?: unknown };
    if (typeof type === 'string' && PRODUCER_STATE_LOST.has(type)) return true;
    cause = cause.cause;
  }
  return false;
}

/** A batch with the broker: acknowledged, then marked published. */
interface InFlight {
  published: Promise<void>;
  marked: Promise<void>;
}

export class Relay {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly wake = new Wake();
  private leaderClient: pg.Client | undefined;
  private producer: Producer | undefined;
  leader = false;

  constructor(private readonly options: RelayOptions) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Finishes the batch in flight, releases the lock, disconnects from Kafka and returns. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake.notify();
    await this.loop;
    await this.dropProducer();
  }

  private async run(): Promise<void> {
    const { logger, pollIntervalMs } = this.options;
    while (this.running) {
      try {
        const client = await this.acquireLeadership();
        if (client) await this.lead(client);
      } catch (error) {
        if (error instanceof EventTooLargeError)
          logger.error({ eventId: error.eventId, bytes: error.bytes, limit: error.limit }, error.message);
        else if (producerStateLost(error)) {
          logger.warn(
            { err: error },
            "relay: the broker lost this producer's sequence; starting a new producer",
          );
          this.options.metrics.producerResets.inc();
          await this.dropProducer();
        } else
          logger.warn({ err: error }, 'relay: leadership lost, or write DB or Kafka unreachable; retrying');
      } finally {
        this.setLeader(false);
        await this.releaseClient();
      }
      // Before trying for the lock again; stop() cuts the wait short.
      await this.wake.wait(pollIntervalMs);
    }
  }

  private async acquireLeadership(): Promise<pg.Client | undefined> {
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: 'pulse-relay',
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    });
    this.leaderClient = client;
    // Without a listener a dropped connection would crash the process; the next query fails instead.
    client.on('error', (error) => {
      this.options.logger.warn({ err: error }, 'relay: lock connection error');
    });
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [
      RELAY_LOCK_KEY.toString(),
    ]);
    if (!rows[0]?.locked) return undefined;
    this.setLeader(true);
    this.options.logger.info('relay: leader');
    client.on('notification', () => {
      this.wake.notify();
    });
    await client.query(`listen ${OUTBOX_CHANNEL}`);
    return client;
  }

  /**
   * Reads, publishes and marks in a pipeline two batches deep: the next batch is read while the
   * previous one is with the broker, and its publish starts only once the previous one was
   * acknowledged, so each partition receives the rows in outbox order. A failure ends the lead;
   * the next leader reads again from the first unmarked row.
   */
  private async lead(client: pg.Client): Promise<void> {
    const { batch, pollIntervalMs } = this.options;
    const maxMessageBytes = await this.options.messageLimit();
    const producer = await this.connectedProducer();
    let cursor = await lastMark(client);
    let previous: InFlight | undefined;
    try {
      while (this.running) {
        const rows = await fetchCommittedBatch(client, batch, cursor);
        const records = rows.map(toRecord);
        // A record the topic cannot take ends the batch before it; alone, it ends the lead.
        const fitting = records.findIndex((record) => !fitsAlone(record, maxMessageBytes));
        if (fitting === 0) {
          if (previous) await previous.marked;
          throw new EventTooLargeError(records[0] as OutgoingRecord, maxMessageBytes);
        }
        if (fitting > 0) records.length = fitting;
        const last = rows[records.length - 1];
        if (last) {
          cursor = { position: last.position, id: last.id };
          const earlier = previous;
          previous = this.send(client, producer, records, cursor, maxMessageBytes, earlier);
          if (earlier) await earlier.marked;
          // Read again at once only where a limit ended the batch. A read that took every final row
          // would mostly come back empty: rows committed since then announce themselves by NOTIFY.
          if (records.length < rows.length || mayHaveMore(rows, batch)) continue;
          await this.wake.wait(pollIntervalMs);
          continue;
        }
        if (previous) await previous.marked;
        previous = undefined;
        await this.wake.wait(pollIntervalMs);
      }
    } finally {
      // On stop the batch in flight is finished. After a failure it is let settle, so that no
      // publish of this lead is still running when the lock is released.
      if (previous) await Promise.allSettled([previous.published, previous.marked]);
    }
  }

  /** Publishes after the previous batch's acknowledgement, then marks up to `upTo` after the previous mark. */
  private send(
    client: pg.Client,
    producer: Producer,
    records: OutgoingRecord[],
    upTo: OutboxCursor,
    maxMessageBytes: number,
    previous: InFlight | undefined,
  ): InFlight {
    const published = (previous?.published ?? Promise.resolve()).then(() =>
      this.publish(producer, records, maxMessageBytes),
    );
    const marked = Promise.all([published, previous?.marked]).then(async () => {
      await markPublished(client, upTo);
      this.options.metrics.published.inc(records.length);
    });
    // Observed by lead(); without a handler a failure seen there first would count as unhandled.
    marked.catch(() => undefined);
    return { published, marked };
  }

  /** One send per run of records under the topic's limit, each after the previous one's acknowledgement. */
  private async publish(
    producer: Producer,
    records: OutgoingRecord[],
    maxMessageBytes: number,
  ): Promise<void> {
    const { topic, tracer } = this.options;
    const started = process.hrtime.bigint();
    for (const send of splitIntoSends(records, maxMessageBytes)) {
      const messages = send.map(({ key, value, headers, traceparent }) => {
        const traced = { ...headers };
        // A producer span per event continues the write's trace into Kafka's headers.
        const parent = propagation.extract(context.active(), { traceparent: traceparent ?? '' });
        const span = tracer.startSpan('pulse.events publish', { kind: SpanKind.PRODUCER }, parent);
        propagation.inject(trace.setSpan(parent, span), traced);
        span.end();
        return { key, value, headers: traced };
      });
      await producer.send({ topic, acks: -1, messages });
    }
    this.options.metrics.publishDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.options.createProducer();
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  private setLeader(leader: boolean): void {
    this.leader = leader;
    this.options.metrics.leader.set(leader ? 1 : 0);
  }

  private async releaseClient(): Promise<void> {
    const client = this.leaderClient;
    this.leaderClient = undefined;
    // Closing the session releases the advisory lock, so a standby can take over at once.
    await client?.end().catch(() => undefined);
  }
}

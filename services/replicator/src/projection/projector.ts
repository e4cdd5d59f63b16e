/**
 * Projector: a member of the Kafka consumer group that applies each partition batch in one
 * projection-DB transaction together with the partition's next offset. The offsets stored there
 * are the truth: each batch is checked against them (messages below are skipped, a gap makes the
 * consumer seek back), so a crash, a redelivery or a rebalance never skips or doubles an effect.
 * Kafka's own committed offsets only save refetching (and show the group's lag to Kafka's tools):
 * they are committed at most once a second, not after every batch.
 */
import {
  isRetryableError,
  parseEvent,
  retryDelayMs,
  DEFAULT_RETRY_POLICY,
  type AnyEvent,
  type Logger,
} from '@pulse/core';
import { context, propagation, SpanKind, trace, type Link, type Tracer } from '@opentelemetry/api';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type pg from 'pg';
import type { ProjectionMetrics } from '../metrics.js';
import { applyEvents } from './apply.js';
import { lockStoredOffsets, storeDeadLetter, storeOffsets } from './store.js';

export interface ProjectorOptions {
  kafka: Kafka;
  pool: pg.Pool;
  groupId: string;
  topic: string;
  /** Attempts of a failing batch, and then of each of its events, before an event is dead-lettered. */
  maxAttempts: number;
  /** Partitions applied at the same time; a service's events share one partition, so they never race. */
  concurrency: number;
  logger: Logger;
  metrics: ProjectionMetrics;
  tracer: Tracer;
}

/** What a batch handler may do with the consumer while it waits or retries. */
interface BatchControl {
  heartbeat: () => Promise<void>;
  isRunning: () => boolean;
}

interface Decoded {
  message: KafkaMessage;
  event?: AnyEvent;
  error?: string;
}

/** One partition's batch of one fetch. */
interface PartitionBatch {
  partition: number;
  decoded: Decoded[];
}

interface Applied {
  kind: 'applied';
  applied: AnyEvent[];
  duplicates: number;
}

/** How long a batch waits for an unreachable projection DB before kafkajs restarts the consumer. */
const UNAVAILABLE_DEADLINE_MS = 20_000;

export function decodeMessage(message: KafkaMessage): Decoded {
  try {
    return { message, event: parseEvent(JSON.parse(message.value?.toString('utf8') ?? 'null')) };
  } catch (error) {
    return { message, error: `undecodable event: ${(error as Error).message}` };
  }
}

/** How often, at most, the applied offsets are committed to Kafka (see start). */
const KAFKA_COMMIT_INTERVAL_MS = 1_000;

/** How long after a crash kafkajs gave up on the consumer is started again. */
const RESTART_DELAY_MS = 1_000;

export class Projector {
  private readonly consumer: Consumer;
  private lowWatermarks = new Map<number, bigint>();
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** The batches gathering to be applied together (see applyWithOthers). */
  private forming:
    { batches: PartitionBatch[]; outcomes: Promise<Map<number, Applied> | undefined> } | undefined;

  constructor(private readonly options: ProjectorOptions) {
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      // The default waits up to 5 s for data; the projection lag target is far below that.
      maxWaitTimeInMs: 100,
      // A projector that dies holds its partitions until the session times out: keep that short.
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      retry: { retries: 10 },
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      options.metrics.rebalances.inc();
      const partitions = payload.memberAssignment[options.topic] ?? [];
      options.metrics.assignedPartitions.set(partitions.length);
      options.logger.info({ partitions }, 'projector: joined group');
    });
    // kafkajs restarts the consumer only after errors it deems retriable; after others (such as
    // "Failed to find group coordinator" while the broker comes back) it leaves it stopped for good.
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.stopped) return;
      options.logger.error(
        { err: payload.error },
        'projector: consumer stopped by kafkajs; starting it again',
      );
      options.metrics.consumerRestarts.inc();
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    this.restartTimer = setTimeout(() => {
      this.start().catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'projector: restart failed; trying again');
        if (!this.stopped) this.scheduleRestart();
      });
    }, RESTART_DELAY_MS);
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      eachBatchAutoResolve: false,
      // kafkajs's auto-commit sends an OffsetCommit after every batch and fetches again only once
      // the broker has answered: a round trip in every event's way, for offsets whose record is
      // the projection DB. Committed from handleBatch instead, once the interval has passed.
      autoCommit: false,
      autoCommitInterval: KAFKA_COMMIT_INTERVAL_MS,
      partitionsConsumedConcurrently: this.options.concurrency,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  /** Lets the batch in flight finish and commit, then leaves the group. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.consumer.disconnect();
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    const control: BatchControl = {
      heartbeat: () => payload.heartbeat(),
      isRunning: () => payload.isRunning(),
    };
    const decoded = batch.messages.map(decodeMessage);
    const started = process.hrtime.bigint();
    const outcome =
      (await this.applyWithOthers({ partition: batch.partition, decoded })) ??
      (await this.untilAvailable(control, () => this.applyBatch(batch.partition, decoded)));
    if (outcome === 'failed') await this.applyOneByOne(batch.partition, decoded, control);
    else if (outcome.kind === 'seek') {
      this.consumer.seek({
        topic: this.options.topic,
        partition: batch.partition,
        offset: outcome.offset.toString(),
      });
      return;
    } else this.observe(batch.partition, outcome.applied, outcome.duplicates, started);
    const last = batch.messages.at(-1);
    if (!last) return;
    payload.resolveOffset(last.offset);
    await payload.commitOffsetsIfNecessary().catch((error: unknown) => {
      // A failed commit (a rebalance under way) costs the next owner a refetch, which it skips.
      this.options.logger.debug({ err: error }, 'projector: offsets not committed to Kafka');
    });
  }

  private observe(partition: number, applied: AnyEvent[], duplicates: number, started: bigint): void {
    const { metrics } = this.options;
    metrics.applyDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.applied.inc(applied.length);
    metrics.duplicates.inc(duplicates);
    const now = Date.now();
    for (const event of applied) metrics.lag.observe((now - Date.parse(event.recorded_at)) / 1000);
    const last = applied.at(-1);
    if (last)
      metrics.currentLag.set({ partition: String(partition) }, (now - Date.parse(last.recorded_at)) / 1000);
  }

  /**
   * kafkajs hands the partitions of one fetch to concurrent eachBatch calls, and fetches again only
   * once all are done. Batches that arrive in the same turn of the event loop are applied in one
   * transaction: at 1,000 events/s over 12 partitions a batch holds a few events, and a transaction
   * per batch spent more on its statements and commit than on the events. Resolves to undefined
   * when the batch must go alone (see applyTogether).
   */
  private applyWithOthers(batch: PartitionBatch): Promise<Applied | undefined> {
    if (!this.forming) {
      const batches: PartitionBatch[] = [];
      const outcomes = new Promise<Map<number, Applied> | undefined>((resolve) => {
        setImmediate(() => {
          this.forming = undefined;
          resolve(this.applyTogether(batches));
        });
      });
      this.forming = { batches, outcomes };
    }
    this.forming.batches.push(batch);
    return this.forming.outcomes.then((outcomes) => outcomes?.get(batch.partition));
  }

  /**
   * One transaction for several partitions' batches, when each simply continues where its stored
   * offset says. Anything else (a lone batch, a gap to seek back over, a partition never applied,
   * an undecodable event, any error) rolls back and leaves each batch to applyBatch, with its own
   * retries and dead letters, so applying together never changes what is applied.
   */
  private async applyTogether(batches: PartitionBatch[]): Promise<Map<number, Applied> | undefined> {
    const partitions = batches.map((batch) => batch.partition);
    // A partition twice (never, as kafkajs hands out one batch per partition at a time) goes alone.
    if (batches.length < 2 || new Set(partitions).size < partitions.length) return undefined;
    const { pool, groupId, topic } = this.options;
    const db = await pool.connect().catch(() => undefined);
    if (!db) return undefined;
    const span = this.applySpan(
      batches.flatMap((batch) => batch.decoded),
      { 'pulse.partitions': batches.length },
    );
    try {
      await db.query('begin');
      const stored = await lockStoredOffsets(db, groupId, topic, partitions);
      const pending = new Map<number, AnyEvent[]>();
      for (const { partition, decoded: messages } of batches) {
        const next = stored.get(partition);
        const first = messages[0] ? BigInt(messages[0].message.offset) : undefined;
        if (next === undefined || first === undefined || first > next || messages.some((d) => d.error)) {
          await db.query('rollback');
          return undefined;
        }
        pending.set(
          partition,
          messages.flatMap((d) => (d.event && BigInt(d.message.offset) >= next ? [d.event] : [])),
        );
      }
      const result = await context.with(trace.setSpan(context.active(), span), () =>
        applyEvents(db, [...pending.values()].flat()),
      );
      await storeOffsets(
        db,
        groupId,
        topic,
        new Map(batches.map((batch) => [batch.partition, nextOffset(batch)])),
      );
      await db.query('commit');
      this.options.metrics.partitionsPerTransaction.observe(batches.length);
      const appliedIds = new Set(result.applied.map((event) => event.id));
      return new Map(
        batches.map(({ partition, decoded: messages }) => {
          const applied = (pending.get(partition) ?? []).filter((event) => appliedIds.has(event.id));
          return [partition, { kind: 'applied', applied, duplicates: messages.length - applied.length }];
        }),
      );
    } catch (error) {
      await db.query('rollback').catch(() => undefined);
      this.options.logger.debug(
        { err: error },
        'projector: batches applied together failed; applying each alone',
      );
      return undefined;
    } finally {
      db.release();
      span.end();
    }
  }

  private applySpan(decoded: Decoded[], attributes: Record<string, string | number>) {
    return this.options.tracer.startSpan('pulse.events apply', {
      kind: SpanKind.CONSUMER,
      links: decoded.flatMap((d) => linkOf(d.message)),
      attributes: { 'messaging.batch.message_count': decoded.length, ...attributes },
    });
  }

  /**
   * One transaction: lock the partition's offset row, skip what it says is applied, apply the rest
   * (undecodable messages go to dead_letters), store the next offset.
   */
  private async applyBatch(
    partition: number,
    decoded: Decoded[],
  ): Promise<Applied | { kind: 'seek'; offset: bigint }> {
    const { pool, groupId, topic } = this.options;
    const span = this.applySpan(decoded, { 'messaging.destination.partition.id': String(partition) });
    const db = await pool.connect();
    try {
      await db.query('begin');
      let stored =
        (await lockStoredOffsets(db, groupId, topic, [partition])).get(partition) ??
        (await this.lowWatermark(partition));
      const first = decoded[0] ? BigInt(decoded[0].message.offset) : stored;
      if (first > stored) {
        const low = await this.lowWatermark(partition, { refresh: true });
        if (stored < low) {
          // Kafka's retention removed events this projection never applied: only a backfill from the
          // write DB can recover them. Say so loudly rather than seeking forever.
          this.options.logger.error(
            { partition, stored: stored.toString(), low: low.toString() },
            'projector: events expired from Kafka before they were applied; run `pulse-replicator rebuild --from write-db`',
          );
          this.options.metrics.deadLetters.inc({ reason: 'expired' });
          stored = low;
        }
      }
      if (first > stored) {
        await db.query('rollback');
        this.options.logger.warn(
          { partition, stored: stored.toString(), fetched: first.toString() },
          'projector: seeking back to stored offset',
        );
        return { kind: 'seek', offset: stored };
      }
      const pending = decoded.filter((d) => BigInt(d.message.offset) >= stored);
      for (const bad of pending.filter((d) => d.error))
        await this.deadLetter(db, partition, bad, bad.error ?? '', 1);
      const events = pending.flatMap((d) => (d.event ? [d.event] : []));
      const result = await context.with(trace.setSpan(context.active(), span), () => applyEvents(db, events));
      if (decoded.length > 0)
        await storeOffsets(db, groupId, topic, new Map([[partition, nextOffset({ partition, decoded })]]));
      await db.query('commit');
      this.options.metrics.partitionsPerTransaction.observe(1);
      return {
        kind: 'applied',
        applied: result.applied,
        duplicates: result.duplicates + (decoded.length - pending.length),
      };
    } catch (error) {
      await db.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      db.release();
      span.end();
    }
  }

  /** After the batch failed maxAttempts times: each event alone, and the ones that still fail to dead_letters. */
  private async applyOneByOne(partition: number, decoded: Decoded[], control: BatchControl): Promise<void> {
    for (const item of decoded) {
      const started = process.hrtime.bigint();
      const outcome = await this.untilAvailable(control, () => this.applyBatch(partition, [item]));
      if (outcome === 'failed') {
        const db = await this.options.pool.connect();
        try {
          await db.query('begin');
          await this.deadLetter(db, partition, item, this.lastError, this.options.maxAttempts);
          await storeOffsets(
            db,
            this.options.groupId,
            this.options.topic,
            new Map([[partition, BigInt(item.message.offset) + 1n]]),
          );
          await db.query('commit');
        } catch (error) {
          await db.query('rollback').catch(() => undefined);
          throw error;
        } finally {
          db.release();
        }
      } else if (outcome.kind === 'applied') {
        this.observe(partition, outcome.applied, outcome.duplicates, started);
      } else {
        throw new Error(`partition ${partition}: stored offset moved to ${outcome.offset} during a retry`);
      }
    }
  }

  private lastError = '';

  /**
   * Runs fn until it succeeds. A lost projection DB is waited for (heartbeating the group) and
   * never counts as a poison event; any other error is tried maxAttempts times, then 'failed'.
   */
  private async untilAvailable<T>(control: BatchControl, fn: () => Promise<T>): Promise<T | 'failed'> {
    const deadline = Date.now() + UNAVAILABLE_DEADLINE_MS;
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        this.lastError = (error as Error).message;
        if (isRetryableError(error)) {
          if (!control.isRunning() || Date.now() > deadline) throw error; // kafkajs restarts from the last resolved offset
        } else if (++failures >= this.options.maxAttempts) {
          this.options.logger.warn({ err: error }, 'projector: batch failed; applying its events one by one');
          return 'failed';
        }
        this.options.logger.warn({ err: error, attempt }, 'projector: apply failed; retrying');
        await control.heartbeat().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs(DEFAULT_RETRY_POLICY, attempt)));
      }
    }
  }

  private async deadLetter(
    db: pg.ClientBase,
    partition: number,
    item: Decoded,
    error: string,
    attempts: number,
  ): Promise<void> {
    const reason = item.event ? 'apply_failed' : 'undecodable';
    await storeDeadLetter(db, {
      eventId: item.event?.id,
      topic: this.options.topic,
      partition,
      offset: item.message.offset,
      key: item.message.key?.toString('utf8') ?? null,
      value: item.message.value?.toString('utf8') ?? '',
      error,
      attempts,
    });
    this.options.metrics.deadLetters.inc({ reason });
    this.options.logger.error(
      { partition, offset: item.message.offset, reason, error },
      'projector: event dead-lettered',
    );
  }

  /** Where a partition starts when the projection has never applied it: the oldest offset Kafka still has. */
  private async lowWatermark(partition: number, { refresh = false } = {}): Promise<bigint> {
    const known = this.lowWatermarks.get(partition);
    if (known !== undefined && !refresh) return known;
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      for (const p of await admin.fetchTopicOffsets(this.options.topic))
        this.lowWatermarks.set(p.partition, BigInt(p.low));
    } finally {
      await admin.disconnect();
    }
    return this.lowWatermarks.get(partition) ?? 0n;
  }
}

/** The offset after a batch's last message. */
function nextOffset(batch: PartitionBatch): bigint {
  const last = batch.decoded.at(-1);
  if (!last) throw new Error(`partition ${batch.partition}: an empty batch has no next offset`);
  return BigInt(last.message.offset) + 1n;
}

function linkOf(message: KafkaMessage): Link[] {
  const carrier: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) carrier[name] = value.toString();
  }
  const spanContext = trace.getSpanContext(propagation.extract(context.active(), carrier));
  return spanContext ? [{ context: spanContext }] : [];
}

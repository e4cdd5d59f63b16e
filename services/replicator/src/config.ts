import { EVENTS_TOPIC, envField, parseConfig } from '@pulse/core';
import { z } from 'zod';

const roles = z
  .string()
  .transform((value) => value.split(',').map((role) => role.trim()))
  .pipe(z.array(z.enum(['relay', 'projector'])).min(1));

export const replicatorConfigSchema = z.object({
  PULSE_WRITE_DATABASE_URL: envField.postgresUrl(),
  PULSE_PROJECTION_DATABASE_URL: envField.postgresUrl(),
  PULSE_KAFKA_BROKERS: envField.of(
    z.string().regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'expected host:port[,host:port...]'),
  ),
  PULSE_KAFKA_TOPIC: envField.of(z.string().min(1).default(EVENTS_TOPIC)),
  /** Used when the relay creates the topic; it also caps how many projectors can share the work. */
  PULSE_KAFKA_PARTITIONS: envField.integer(12, { min: 1, max: 10_000 }),
  PULSE_KAFKA_REPLICATION_FACTOR: envField.integer(1, { min: 1, max: 7 }),
  /**
   * The topic's max.message.bytes when the relay creates it. One event can be several MB (a
   * 5,000-sample batch of one service, a long process list), and the broker's default is 1 MB.
   */
  PULSE_KAFKA_MAX_MESSAGE_BYTES: envField.integer(8 * 1024 * 1024, {
    min: 64 * 1024,
    max: 100 * 1024 * 1024,
  }),
  PULSE_PROJECTOR_GROUP: envField.of(z.string().min(1).default('pulse-projector')),
  /** Which roles this process runs; every replica normally runs both. */
  PULSE_REPLICATOR_ROLES: envField.of(roles.default(['relay', 'projector'])),
  PULSE_HTTP_PORT: envField.port(8082),
  PULSE_HTTP_HOST: envField.httpHost(),
  /** Rows read, published and marked per round; larger rounds drain a backlog with fewer round trips. */
  PULSE_RELAY_BATCH_SIZE: envField.integer(2_000, { min: 1, max: 10_000 }),
  /**
   * Payload bytes one read may hold (the first row is always read): a backlog of large events,
   * such as 5,000-sample batches of one service each, would otherwise fill the heap.
   */
  PULSE_RELAY_BATCH_BYTES: envField.integer(16 * 1024 * 1024, { min: 64 * 1024, max: 1024 * 1024 * 1024 }),
  /** The timed poll that catches what a lost NOTIFY would miss. */
  PULSE_RELAY_POLL_INTERVAL_MS: envField.integer(1_000, { min: 10, max: 60_000 }),
  PULSE_OUTBOX_RETENTION_HOURS: envField.integer(24, { min: 0, max: 24 * 365 }),
  /**
   * Partitions whose batches one projector applies at the same time, each in its own transaction
   * (kafkajs partitionsConsumedConcurrently). kafkajs fetches again only when every batch of the
   * last fetch is applied, so fewer than the partitions a fetch returns make an event wait for the
   * slices ahead of it: at 1,000 samples/s, 12 instead of 4 halved the projection's median lag.
   */
  PULSE_PROJECTOR_CONCURRENCY: envField.integer(12, { min: 1, max: 64 }),
  PULSE_PROJECTOR_MAX_ATTEMPTS: envField.integer(3, { min: 1, max: 100 }),
  PULSE_HEARTBEAT_CHECK_INTERVAL_MS: envField.integer(5_000, { min: 100, max: 600_000 }),
  PULSE_LOG_LEVEL: envField.logLevel(),
});

export type ReplicatorConfig = z.infer<typeof replicatorConfigSchema>;

export const loadReplicatorConfig = (env: NodeJS.ProcessEnv = process.env): ReplicatorConfig =>
  parseConfig(replicatorConfigSchema, env);

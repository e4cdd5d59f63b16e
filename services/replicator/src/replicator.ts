/**
 * One replicator process: a relay candidate and a projector, plus the leader's monitor round.
 * Every replica runs both roles, so the operator scaling the replicator scales the projectors,
 * while exactly one replica at a time relays.
 */
import { createPool, type Logger, type Telemetry } from '@pulse/core';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import type { ReplicatorConfig } from './config.js';
import { createKafka, createRelayProducer, ensureTopic, topicMessageLimit } from './kafka.js';
import { createProjectionMetrics, createRelayMetrics } from './metrics.js';
import { migrateProjectionDatabase } from './migrate.js';
import { runMonitorRound } from './monitor.js';
import { Projector } from './projection/projector.js';
import { Relay } from './relay/relay.js';

export interface Replicator {
  relay: Relay | undefined;
  projector: Projector | undefined;
  writePool: pg.Pool;
  projectionPool: pg.Pool;
  /** Ready once the projector has joined its group (or is not wanted) and both databases answer. */
  readiness: () => Promise<void>;
  stop: () => Promise<void>;
}

export async function startReplicator(
  config: ReplicatorConfig,
  logger: Logger,
  telemetry: Telemetry,
): Promise<Replicator> {
  const roles = new Set(config.PULSE_REPLICATOR_ROLES);
  await migrateProjectionDatabase(config.PULSE_PROJECTION_DATABASE_URL, logger);
  const writePool = createPool(config.PULSE_WRITE_DATABASE_URL, {
    applicationName: 'pulse-replicator',
    max: 4,
    logger,
  });
  const projectionPool = createPool(config.PULSE_PROJECTION_DATABASE_URL, {
    applicationName: 'pulse-projector',
    // A connection per partition applied at once, plus the heartbeat timer's and the monitor's.
    max: config.PULSE_PROJECTOR_CONCURRENCY + 2,
    logger,
  });
  const relayMetrics = createRelayMetrics(telemetry.registry);
  const projectionMetrics = createProjectionMetrics(telemetry.registry);
  const kafka = createKafka(config.PULSE_KAFKA_BROKERS, `pulse-replicator-${process.pid}`, logger);
  const admin: Admin = kafka.admin();
  await admin.connect();
  await ensureTopic(admin, config.PULSE_KAFKA_TOPIC, {
    partitions: config.PULSE_KAFKA_PARTITIONS,
    replicationFactor: config.PULSE_KAFKA_REPLICATION_FACTOR,
    maxMessageBytes: config.PULSE_KAFKA_MAX_MESSAGE_BYTES,
  });

  let relay: Relay | undefined;
  if (roles.has('relay')) {
    relay = new Relay({
      databaseUrl: config.PULSE_WRITE_DATABASE_URL,
      createProducer: () => createRelayProducer(kafka),
      topic: config.PULSE_KAFKA_TOPIC,
      batch: { rows: config.PULSE_RELAY_BATCH_SIZE, bytes: config.PULSE_RELAY_BATCH_BYTES },
      messageLimit: () => topicMessageLimit(admin, config.PULSE_KAFKA_TOPIC),
      pollIntervalMs: config.PULSE_RELAY_POLL_INTERVAL_MS,
      logger,
      metrics: relayMetrics,
      tracer: telemetry.tracer,
    });
    relay.start();
  }

  let projector: Projector | undefined;
  if (roles.has('projector')) {
    projector = new Projector({
      kafka,
      pool: projectionPool,
      groupId: config.PULSE_PROJECTOR_GROUP,
      topic: config.PULSE_KAFKA_TOPIC,
      maxAttempts: config.PULSE_PROJECTOR_MAX_ATTEMPTS,
      concurrency: config.PULSE_PROJECTOR_CONCURRENCY,
      logger,
      metrics: projectionMetrics,
      tracer: telemetry.tracer,
    });
    await projector.start();
  }

  let monitoring = false;
  const monitor = setInterval(() => {
    if (!relay?.leader || monitoring) return;
    monitoring = true;
    runMonitorRound({
      writePool,
      projectionPool,
      admin,
      topic: config.PULSE_KAFKA_TOPIC,
      groupId: config.PULSE_PROJECTOR_GROUP,
      outboxRetentionHours: config.PULSE_OUTBOX_RETENTION_HOURS,
      relayMetrics,
      projectionMetrics,
      logger,
    })
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'monitor round failed');
      })
      .finally(() => {
        monitoring = false;
      });
  }, config.PULSE_HEARTBEAT_CHECK_INTERVAL_MS);

  return {
    relay,
    projector,
    writePool,
    projectionPool,
    readiness: async () => {
      await writePool.query('select 1');
      await projectionPool.query('select 1');
    },
    stop: async () => {
      clearInterval(monitor);
      // Projector first: it finishes and commits its batch, then leaves the group for the others.
      await projector?.stop();
      await relay?.stop();
      await admin.disconnect();
      await writePool.end();
      await projectionPool.end();
    },
  };
}

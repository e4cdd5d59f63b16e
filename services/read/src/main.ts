/** The read service process: configuration, pools, then the HTTP API until SIGTERM. */
import { ConfigError, createLogger, createPool, createTelemetry, parseConfig, serve } from '@pulse/core';
import { Kafka, logLevel } from 'kafkajs';
import { createReadApp } from './app.js';
import { readConfigSchema } from './config.js';
import { HistoryRouter } from './history-router.js';

async function main(): Promise<void> {
  const config = parseConfig(readConfigSchema);
  const logger = createLogger('read', config.PULSE_LOG_LEVEL);
  const telemetry = createTelemetry('read');
  const pool = (url: string) =>
    createPool(url, { applicationName: 'pulse-read', max: config.PULSE_DB_POOL_SIZE, logger });
  const primary = pool(config.PULSE_WRITE_DATABASE_URL);
  const projection = pool(config.PULSE_PROJECTION_DATABASE_URL);
  const history = new HistoryRouter({
    primary,
    primaryUrl: config.PULSE_WRITE_DATABASE_URL,
    replicaUrls: config.PULSE_REPLICA_DATABASE_URL,
    maxLagSeconds: config.PULSE_REPLICA_MAX_LAG_SECONDS,
    retryAfterMs: config.PULSE_REPLICA_RETRY_AFTER_MS,
    connectTimeoutMs: config.PULSE_REPLICA_CONNECT_TIMEOUT_MS,
    probeIntervalMs: config.PULSE_REPLICA_PROBE_INTERVAL_MS,
    poolSize: config.PULSE_DB_POOL_SIZE,
    logger,
    registry: telemetry.registry,
  });
  // kafkajs connects lazily and reconnects by itself; /sync-status reports Kafka being away.
  const admin = config.PULSE_KAFKA_BROKERS
    ? new Kafka({
        clientId: 'pulse-read',
        brokers: config.PULSE_KAFKA_BROKERS.split(','),
        logLevel: logLevel.NOTHING,
      }).admin()
    : undefined;

  const http = createReadApp({
    primary,
    projection,
    history,
    kafka: admin
      ? { admin, topic: config.PULSE_KAFKA_TOPIC, groupId: config.PULSE_PROJECTOR_GROUP }
      : undefined,
    readYourWritesTimeoutMs: config.PULSE_READ_YOUR_WRITES_TIMEOUT_MS,
    authCacheTtlMs: config.PULSE_AUTH_CACHE_TTL_MS,
    answerCacheTtlMs: config.PULSE_READ_CACHE_TTL_MS,
    logger,
    telemetry,
  });
  await serve(http, {
    port: config.PULSE_HTTP_PORT,
    host: config.PULSE_HTTP_HOST,
    logger,
    graceMs: config.PULSE_SHUTDOWN_GRACE_MS,
    onClose: async () => {
      await admin?.disconnect();
      await Promise.all([primary.end(), projection.end(), history.close()]);
      await telemetry.shutdown();
    },
  });
}

main().catch((error: unknown) => {
  // A configuration error is the operator's to fix: print just the message, naming the variable.
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exit(1);
});

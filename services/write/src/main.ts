/** The write service process: configuration, schema, upkeep, then the HTTP API until SIGTERM. */
import { ConfigError, createLogger, createPool, createTelemetry, parseConfig, serve } from '@pulse/core';
import { createWriteApp } from './app.js';
import { storeBootstrapAdminKey } from './bootstrap.js';
import { writeConfigSchema } from './config.js';
import { runMaintenance, scheduleMaintenance } from './maintenance.js';
import { migrateWriteDatabase } from './migrate.js';

async function main(): Promise<void> {
  const config = parseConfig(writeConfigSchema);
  const logger = createLogger('write', config.PULSE_LOG_LEVEL);
  const telemetry = createTelemetry('write');
  if (config.PULSE_MIGRATE_ON_START) await migrateWriteDatabase(config.PULSE_WRITE_DATABASE_URL, logger);
  const pool = createPool(config.PULSE_WRITE_DATABASE_URL, {
    applicationName: 'pulse-write',
    max: config.PULSE_DB_POOL_SIZE,
    logger,
  });
  const maintenance = {
    retentionDays: config.PULSE_RETENTION_DAYS,
    daysAhead: config.PULSE_PARTITION_DAYS_AHEAD,
    idempotencyTtlHours: config.PULSE_IDEMPOTENCY_TTL_HOURS,
  };
  // Before serving: a sample for today must find its partition.
  await runMaintenance(pool, logger, maintenance);
  const stopMaintenance = scheduleMaintenance(
    pool,
    logger,
    maintenance,
    config.PULSE_MAINTENANCE_INTERVAL_MS,
  );
  if (config.PULSE_BOOTSTRAP_ADMIN_KEY)
    await storeBootstrapAdminKey(pool, config.PULSE_BOOTSTRAP_ADMIN_KEY, logger);

  const http = createWriteApp({
    pool,
    logger,
    telemetry,
    bodyLimit: config.PULSE_HTTP_BODY_LIMIT,
    retentionDays: config.PULSE_RETENTION_DAYS,
    authCacheTtlMs: config.PULSE_AUTH_CACHE_TTL_MS,
    commandGroups: { groups: config.PULSE_COMMAND_GROUPS, size: config.PULSE_COMMAND_GROUP_SIZE },
    rateLimit: { perSecond: config.PULSE_RATE_LIMIT_PER_SECOND, burst: config.PULSE_RATE_LIMIT_BURST },
  });
  await serve(http, {
    port: config.PULSE_HTTP_PORT,
    host: config.PULSE_HTTP_HOST,
    logger,
    graceMs: config.PULSE_SHUTDOWN_GRACE_MS,
    onClose: async () => {
      stopMaintenance();
      await pool.end();
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

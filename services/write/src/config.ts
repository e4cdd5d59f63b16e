import { envField } from '@pulse/core';
import { z } from 'zod';

export const writeConfigSchema = z.object({
  PULSE_WRITE_DATABASE_URL: envField.postgresUrl(),
  PULSE_HTTP_PORT: envField.port(8080),
  PULSE_HTTP_HOST: envField.httpHost(),
  PULSE_LOG_LEVEL: envField.logLevel(),
  PULSE_AUTH_CACHE_TTL_MS: envField.authCacheTtlMs(),
  PULSE_DB_POOL_SIZE: envField.integer(20, { min: 1, max: 500 }),
  /** Raw secret of the bootstrap admin key; stored (hashed) at start so operators can create tenants. */
  PULSE_BOOTSTRAP_ADMIN_KEY: envField.of(z.string().min(24, 'must be at least 24 characters').optional()),
  PULSE_HTTP_BODY_LIMIT: envField.of(
    z
      .string()
      .regex(/^\d+(b|kb|mb)$/i, 'expected a size such as 512kb or 4mb')
      .default('4mb'),
  ),
  PULSE_SHUTDOWN_GRACE_MS: envField.integer(10_000, { max: 600_000 }),
  PULSE_RETENTION_DAYS: envField.integer(7, { min: 1, max: 3_650 }),
  PULSE_PARTITION_DAYS_AHEAD: envField.integer(3, { min: 1, max: 90 }),
  PULSE_MAINTENANCE_INTERVAL_MS: envField.integer(3_600_000, { min: 1_000 }),
  PULSE_IDEMPOTENCY_TTL_HOURS: envField.integer(24, { min: 1, max: 24 * 30 }),
  /** Token bucket per API key: sustained requests per second and burst size. 0 disables it. */
  PULSE_RATE_LIMIT_PER_SECOND: envField.integer(500, { max: 1_000_000 }),
  PULSE_RATE_LIMIT_BURST: envField.integer(1_000, { min: 1, max: 1_000_000 }),
  PULSE_MIGRATE_ON_START: envField.boolean(true),
  /**
   * Group commit of small commands (single samples, heartbeats, process lists): how many group
   * transactions may commit at once, and how many commands one may hold. 1 command per group
   * turns grouping off.
   */
  PULSE_COMMAND_GROUPS: envField.integer(2, { min: 1, max: 100 }),
  PULSE_COMMAND_GROUP_SIZE: envField.integer(64, { min: 1, max: 1_000 }),
});

export type WriteConfig = z.infer<typeof writeConfigSchema>;

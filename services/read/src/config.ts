import { EVENTS_TOPIC, envField } from '@pulse/core';
import { z } from 'zod';

const postgresUrls = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((url) => url.trim())
      .filter((url) => url !== ''),
  )
  .pipe(z.array(z.url({ protocol: /^postgres(ql)?$/, error: 'expected postgres:// URLs, comma separated' })));

export const readConfigSchema = z.object({
  PULSE_PROJECTION_DATABASE_URL: envField.postgresUrl(),
  /** The write cluster's primary: API keys, the relay stage, and raw history when no replica qualifies. */
  PULSE_WRITE_DATABASE_URL: envField.postgresUrl(),
  /** The write cluster's read replicas, tried in turn for raw history; none means the primary serves it. */
  PULSE_REPLICA_DATABASE_URL: envField.of(postgresUrls.default([])),
  PULSE_REPLICA_MAX_LAG_SECONDS: envField.of(z.coerce.number().min(0).max(3_600).default(5)),
  /** A replica that failed to answer is not tried again for this long, so a dead one costs no request a timeout. */
  PULSE_REPLICA_RETRY_AFTER_MS: envField.integer(5_000, { min: 0, max: 600_000 }),
  PULSE_REPLICA_CONNECT_TIMEOUT_MS: envField.integer(1_000, { min: 50, max: 60_000 }),
  /** Each replica's replay state is probed this often, so a replay after an idle spell is not taken for lag. */
  PULSE_REPLICA_PROBE_INTERVAL_MS: envField.integer(1_000, { min: 50, max: 60_000 }),
  PULSE_READ_YOUR_WRITES_TIMEOUT_MS: envField.integer(5_000, { min: 0, max: 60_000 }),
  /**
   * How long a projection answer is shared by the requests of one tenant asking for the same URL:
   * a bounded staleness of at most this on top of the projection lag; 0 turns the cache off.
   */
  PULSE_READ_CACHE_TTL_MS: envField.integer(1_000, { max: 60_000 }),
  /** Kafka for the projection backlog in /sync-status; unset, the backlog is reported as unknown. */
  PULSE_KAFKA_BROKERS: envField.of(
    z
      .string()
      .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'expected host:port[,host:port...]')
      .optional(),
  ),
  PULSE_KAFKA_TOPIC: envField.of(z.string().min(1).default(EVENTS_TOPIC)),
  PULSE_PROJECTOR_GROUP: envField.of(z.string().min(1).default('pulse-projector')),
  PULSE_HTTP_PORT: envField.port(8081),
  PULSE_HTTP_HOST: envField.httpHost(),
  PULSE_LOG_LEVEL: envField.logLevel(),
  PULSE_AUTH_CACHE_TTL_MS: envField.authCacheTtlMs(),
  PULSE_DB_POOL_SIZE: envField.integer(20, { min: 1, max: 500 }),
  PULSE_SHUTDOWN_GRACE_MS: envField.integer(10_000, { max: 600_000 }),
});

export type ReadConfig = z.infer<typeof readConfigSchema>;

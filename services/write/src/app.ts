/** Assembles the write service's HTTP app from its routes, auth and rate limit. */
import {
  API_KEY_HEADER,
  ApiKeyAuthenticator,
  createHttpApp,
  directRoutes,
  HttpError,
  mountRoutes,
  openApiDocument,
  requireScope,
  type HttpApp,
  type Logger,
  type MountOptions,
  type Principal,
  type Scope,
  type Telemetry,
} from '@pulse/core';
import type pg from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import { CommandGroups } from './commands.js';
import { RateLimiter } from './rate-limit.js';
import { RelayWake } from './relay-wake.js';
import { notifyRelay } from './repositories/outbox.js';
import { API_PREFIX, writeRoutes } from './routes.js';
import { responses, writeSchemas } from './schemas.js';

export interface WriteAppOptions {
  pool: pg.Pool;
  logger: Logger;
  telemetry: Telemetry;
  bodyLimit: string;
  retentionDays: number;
  rateLimit: { perSecond: number; burst: number };
  authCacheTtlMs: number;
  /** Group commit of small commands; see CommandGroups. */
  commandGroups: { groups: number; size: number };
}

export function createWriteApp(options: WriteAppOptions): HttpApp {
  const { pool, telemetry } = options;
  const relayWake = new RelayWake(() => notifyRelay(pool), options.logger);
  const commands = {
    pool,
    wakeRelay: () => {
      relayWake.request();
    },
    retries: new Counter({
      name: 'pulse_write_command_retries_total',
      help: 'Command transactions retried after a connection loss or failover error',
      registers: [telemetry.registry],
    }),
    events: new Counter({
      name: 'pulse_write_events_total',
      help: 'Events committed to the outbox, by type',
      labelNames: ['type'],
      registers: [telemetry.registry],
    }),
    groupSize: new Histogram({
      name: 'pulse_write_commands_per_transaction',
      help: 'Commands committed together in one transaction (group commit), by how: in BEGIN/COMMIT or by one statement',
      labelNames: ['commit'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [telemetry.registry],
    }),
  };
  const groups = new CommandGroups(commands, options.commandGroups.groups, options.commandGroups.size);
  new Gauge({
    name: 'pulse_write_commands_waiting',
    help: 'Small commands waiting to join the next group transaction',
    registers: [telemetry.registry],
    collect() {
      this.set(groups.waiting);
    },
  });
  const keys = new ApiKeyAuthenticator(pool, { ttlMs: options.authCacheTtlMs });
  const routes = writeRoutes({
    pool,
    keys,
    commands,
    groups,
    schemas: writeSchemas({ retentionDays: options.retentionDays }),
  });
  const limiter = new RateLimiter(options.rateLimit.perSecond, options.rateLimit.burst);
  const openapi = openApiDocument(routes, {
    title: 'Pulse write API',
    version: '1',
    prefix: API_PREFIX,
    apiKeyHeader: API_KEY_HEADER,
    problemSchema: responses.problem,
  });

  const mounted: MountOptions<Principal> = {
    prefix: API_PREFIX,
    prepare: async (route, request) => {
      const principal = await keys.authenticate(request.header(API_KEY_HEADER));
      if (limiter.enabled) {
        const taken = limiter.take(principal.keyId, Date.now());
        if (!taken.allowed) {
          throw new HttpError(
            429,
            'Too Many Requests',
            `rate limit exceeded; retry after ${taken.retryAfterSeconds} s`,
            {
              headers: { 'Retry-After': String(taken.retryAfterSeconds) },
            },
          );
        }
      }
      requireScope(principal, route.scope as Scope);
      return principal;
    },
  };

  return createHttpApp({
    logger: options.logger,
    telemetry,
    bodyLimit: options.bodyLimit,
    readiness: async () => {
      await pool.query('select 1');
    },
    openapi: () => openapi,
    mount: (app) => {
      mountRoutes(app, routes, mounted);
    },
    direct: directRoutes(routes, mounted),
  });
}

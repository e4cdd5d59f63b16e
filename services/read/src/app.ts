/** Assembles the read service's HTTP app: key auth on the write DB, read-your-writes, the routes. */
import {
  API_KEY_HEADER,
  ApiKeyAuthenticator,
  createHttpApp,
  mountRoutes,
  openApiDocument,
  problemSchema,
  requireScope,
  type HttpApp,
  type Logger,
  type Telemetry,
} from '@pulse/core';
import type pg from 'pg';
import { answerCaching, asksPastCache } from './answer-cache.js';
import type { HistoryRouter } from './history-router.js';
import { MIN_POSITION_HEADER, minPositionOf, positionWaiter } from './read-your-writes.js';
import { API_PREFIX, readRoutes, type ReadContext } from './routes.js';
import type { SyncSources } from './sync-status.js';

export interface ReadAppOptions {
  /** The write primary: API keys, and what /sync-status reads of the outbox. */
  primary: pg.Pool;
  projection: pg.Pool;
  history: HistoryRouter;
  kafka: SyncSources['kafka'];
  readYourWritesTimeoutMs: number;
  authCacheTtlMs: number;
  /** How long a projection answer is shared per tenant and URL (answer-cache.ts); 0 turns it off. */
  answerCacheTtlMs: number;
  logger: Logger;
  telemetry: Telemetry;
}

export function createReadApp(options: ReadAppOptions): HttpApp {
  const { primary, projection, history, telemetry } = options;
  const caching = answerCaching({ ttlMs: options.answerCacheTtlMs, registry: telemetry.registry });
  const routes = readRoutes({
    projection,
    history,
    sync: { primary, projection, history, kafka: options.kafka },
    cached: caching.route,
  });
  const keys = new ApiKeyAuthenticator(primary, { ttlMs: options.authCacheTtlMs });
  const waiter = positionWaiter(projection, options.readYourWritesTimeoutMs, telemetry.registry);
  const openapi = openApiDocument(routes, {
    title: 'Pulse read API',
    version: '1',
    prefix: API_PREFIX,
    apiKeyHeader: API_KEY_HEADER,
    problemSchema,
  });

  return createHttpApp({
    logger: options.logger,
    telemetry,
    bodyLimit: '1kb',
    readiness: async () => {
      await Promise.all([primary.query('select 1'), projection.query('select 1')]);
    },
    openapi: () => openapi,
    // A dashboard's repeated read of a kept answer skips Express: at thousands of reads a second its
    // routing, request and response layers cost several times the work of sending the kept bytes.
    // Anything else (an unknown key, a position to wait for, a conditional GET) takes the full path.
    shortcut: (req) => {
      const { headers } = req;
      if (req.method !== 'GET' || headers['if-none-match'] !== undefined) return undefined;
      if (asksPastCache(headers[MIN_POSITION_HEADER.toLowerCase()], headers['cache-control']))
        return undefined;
      const principal = keys.trusted(headers[API_KEY_HEADER.toLowerCase()] as string | undefined);
      if (!principal?.scopes.includes('read')) return undefined;
      return caching.kept(principal.tenantId, req.url ?? '');
    },
    mount: (app) => {
      mountRoutes<ReadContext>(app, routes, {
        prefix: API_PREFIX,
        prepare: async (_route, request) => {
          const principal = await keys.authenticate(request.header(API_KEY_HEADER));
          requireScope(principal, 'read');
          const minPosition = minPositionOf(request.header(MIN_POSITION_HEADER));
          if (minPosition) await waiter.wait(minPosition);
          return { principal, minPosition };
        },
      });
    },
  });
}

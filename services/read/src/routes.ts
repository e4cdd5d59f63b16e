/** The read API's routes: thin handlers over the projection repositories and the history router. */
import {
  notFound,
  routeBuilder,
  type Position,
  type Principal,
  type RouteResult,
  type RouteSpec,
} from '@pulse/core';
import type pg from 'pg';
import type { z } from 'zod';
import type { RouteCaching } from './answer-cache.js';
import { paginate } from './cursor.js';
import type { HistoryRouter } from './history-router.js';
import { MIN_POSITION_HEADER } from './read-your-writes.js';
import { listAlerts, openAlertCounts } from './repositories/alerts.js';
import { ownsService, rawSamples } from './repositories/history.js';
import { hourlyBuckets, latestMetrics, latestMetricsPage, topProcesses } from './repositories/metrics.js';
import { lastAppliedPosition } from './repositories/positions.js';
import { findService, healthSummary, listServices, serviceExists } from './repositories/status.js';
import {
  HOURLY_DEFAULT_SPAN_MS,
  params,
  queries,
  RAW_DEFAULT_SPAN_MS,
  resolveRange,
  responses,
} from './schemas.js';
import { measure, stagesOf, type SyncSources } from './sync-status.js';

export const API_PREFIX = '/api/v1';
export const SERVED_BY_HEADER = 'X-Pulse-Served-By';
export const STALENESS_HEADER = 'X-Pulse-Staleness-Seconds';
/** Which server answered (host:port/database), for operators tracing a slow or odd answer. */
export const SERVER_HEADER = 'X-Pulse-Server';

export interface ReadContext {
  principal: Principal;
  /** The X-Pulse-Min-Position the request carried; the projection has applied it by now. */
  minPosition: Position | undefined;
}

type ErrorStatus = 400 | 401 | 403 | 404 | 504;
const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: `A bad query parameter, path parameter or ${MIN_POSITION_HEADER}; \`errors\` names it`,
  401: 'Missing, unknown or revoked API key',
  403: 'The API key lacks the read scope',
  404: 'No such service for this tenant',
  504: `The projection did not apply ${MIN_POSITION_HEADER} within the wait bound`,
};
const errors = (...statuses: ErrorStatus[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: ERROR_DESCRIPTIONS[status] }]));
const COMMON = [400, 401, 403, 504] as const;

/**
 * Projection answers may be cached by the client but must be revalidated (the ETag makes that a
 * 304), and differ by key and by the position the client waited for. The routes answering with it
 * are `projectionRoute`s: the server shares their answers for a short while too.
 */
const REVALIDATE = { 'Cache-Control': 'private, no-cache', Vary: `X-API-Key, ${MIN_POSITION_HEADER}` };
const fresh = (body: unknown): RouteResult => ({ status: 200, body, headers: REVALIDATE });

const DASHBOARD_TOP = 5;
const DASHBOARD_RECENT_ALERTS = 10;

export interface RouteDeps {
  projection: pg.Pool;
  history: HistoryRouter;
  sync: SyncSources;
  /** Applied to every projection-backed route (see answer-cache.ts); the identity turns it off. */
  cached: RouteCaching;
}

const route = routeBuilder<ReadContext>();

export function readRoutes({ projection, history, sync, cached }: RouteDeps) {
  /**
   * A GET answered from the projection: its 200 answers are shared per tenant and URL for the
   * cache TTL, a bounded staleness on top of the projection lag they already have. Not for raw
   * history (replicas, with their own staleness headers) nor /sync-status (measures now).
   */
  const projectionRoute = <P extends z.ZodObject, B extends z.ZodType, Q extends z.ZodObject>(
    spec: RouteSpec<P, B, ReadContext, Q>,
  ) => cached(route(spec));

  const requireService = async (tenantId: string, id: string) => {
    if (!(await serviceExists(projection, tenantId, id))) throw notFound(`service ${id} not found`, 'id');
  };

  return [
    projectionRoute({
      method: 'get',
      path: '/services',
      summary:
        'Status of the tenant services (health, latest values, 1 h averages, open alerts), paged by name',
      scope: 'read',
      query: queries.services,
      responses: {
        200: { description: 'A page of services', schema: responses.services },
        ...errors(...COMMON),
      },
      handler: async ({ query, context }) => {
        const rows = await listServices(projection, context.principal.tenantId, {
          labels: query.label,
          health: query.health,
          after: query.cursor,
          limit: query.limit + 1,
        });
        const page = paginate(rows, query.limit, (row) => [row.name ?? '', row.id]);
        return fresh({ services: page.items, next_cursor: page.next_cursor });
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/services/{id}',
      summary: "One service's status",
      scope: 'read',
      params: params.serviceId,
      responses: {
        200: { description: 'The service', schema: responses.service },
        ...errors(...COMMON, 404),
      },
      handler: async ({ params: { id }, context }) => {
        const service = await findService(projection, context.principal.tenantId, id);
        if (!service) throw notFound(`service ${id} not found`, 'id');
        return fresh(service);
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/services/{id}/metrics/latest',
      summary: "A service's latest sample (by observation time)",
      scope: 'read',
      params: params.serviceId,
      responses: { 200: { description: 'The sample', schema: responses.latest }, ...errors(...COMMON, 404) },
      handler: async ({ params: { id }, context }) => {
        const latest = await latestMetrics(projection, context.principal.tenantId, id);
        if (!latest) throw notFound(`service ${id} not found or without samples`, 'id');
        return fresh(latest);
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/metrics/latest',
      summary: 'The latest sample of every service, paged by service id',
      scope: 'read',
      query: queries.metricsLatest,
      responses: {
        200: { description: 'A page of samples', schema: responses.latestList },
        ...errors(...COMMON),
      },
      handler: async ({ query, context }) => {
        const rows = await latestMetricsPage(
          projection,
          context.principal.tenantId,
          query.cursor?.[0],
          query.limit + 1,
        );
        const page = paginate(rows, query.limit, (row) => [row.service_id]);
        return fresh({ metrics: page.items, next_cursor: page.next_cursor });
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/services/{id}/metrics/hourly',
      summary: 'Hourly count, avg, min and max per gauge over [from, to) (default: the last 24 h)',
      scope: 'read',
      params: params.serviceId,
      query: queries.hourly,
      responses: { 200: { description: 'The buckets', schema: responses.hourly }, ...errors(...COMMON, 404) },
      handler: async ({ params: { id }, query, context }) => {
        await requireService(context.principal.tenantId, id);
        const range = resolveRange(query, HOURLY_DEFAULT_SPAN_MS, Date.now());
        const [from, to] = [new Date(range.fromMs), new Date(range.toMs)];
        const buckets = await hourlyBuckets(projection, context.principal.tenantId, id, from, to);
        return fresh({ service_id: id, from: from.toISOString(), to: to.toISOString(), buckets });
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/services/{id}/processes',
      summary: "A service's latest processes, busiest first",
      scope: 'read',
      params: params.serviceId,
      query: queries.processes,
      responses: {
        200: { description: 'The processes', schema: responses.processes },
        ...errors(...COMMON, 404),
      },
      handler: async ({ params: { id }, query, context }) => {
        await requireService(context.principal.tenantId, id);
        const processes = await topProcesses(
          projection,
          context.principal.tenantId,
          id,
          query.sort,
          query.limit,
        );
        return fresh({ service_id: id, processes });
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/alerts',
      summary: 'Alerts, newest first, by state, service and severity',
      scope: 'read',
      query: queries.alerts,
      responses: { 200: { description: 'A page of alerts', schema: responses.alerts }, ...errors(...COMMON) },
      handler: async ({ query, context }) => {
        const rows = await listAlerts(projection, context.principal.tenantId, {
          state: query.state,
          serviceId: query.service,
          severity: query.severity,
          after: query.cursor,
          limit: query.limit + 1,
        });
        const page = paginate(rows, query.limit, (row) => [row.opened_at, row.id]);
        return fresh({ alerts: page.items, next_cursor: page.next_cursor });
      },
    }),
    route({
      method: 'get',
      path: '/services/{id}/metrics/raw',
      summary:
        'Raw samples over [from, to) (default: the last hour), from a read replica within the staleness bound, else the primary',
      scope: 'read',
      params: params.serviceId,
      query: queries.raw,
      responses: { 200: { description: 'The samples', schema: responses.raw }, ...errors(...COMMON, 404) },
      handler: async ({ params: { id }, query, context }) => {
        const range = resolveRange(query, RAW_DEFAULT_SPAN_MS, Date.now());
        const [from, to] = [new Date(range.fromMs), new Date(range.toMs)];
        const served = await history.read(context.minPosition?.txid, async (db) =>
          (await ownsService(db, context.principal.tenantId, id))
            ? rawSamples(db, id, { from, to, after: query.cursor?.[0] }, query.limit + 1)
            : undefined,
        );
        if (!served.result) throw notFound(`service ${id} not found`, 'id');
        const page = paginate(served.result, query.limit, (row) => [row.observed_at]);
        return {
          status: 200,
          body: {
            service_id: id,
            from: from.toISOString(),
            to: to.toISOString(),
            samples: page.items,
            next_cursor: page.next_cursor,
          },
          headers: {
            ...REVALIDATE,
            [SERVED_BY_HEADER]: served.servedBy,
            [SERVER_HEADER]: served.server,
            [STALENESS_HEADER]: served.stalenessSeconds.toFixed(3),
          },
        };
      },
    }),
    route({
      method: 'get',
      path: '/sync-status',
      summary:
        'Lag and backlog of each pipeline stage (relay, projection, replica) and the last applied position',
      scope: 'read',
      responses: { 200: { description: 'The stages', schema: responses.syncStatus }, ...errors(...COMMON) },
      handler: async ({ context }) => {
        const [position, measurements] = await Promise.all([
          lastAppliedPosition(projection, context.principal.tenantId),
          measure(sync),
        ]);
        return {
          status: 200,
          body: { position, stages: stagesOf(measurements) },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
    projectionRoute({
      method: 'get',
      path: '/dashboard',
      summary: 'The overview in one call: services by health, open alerts, the busiest services',
      scope: 'read',
      responses: { 200: { description: 'The overview', schema: responses.dashboard }, ...errors(...COMMON) },
      handler: async ({ context }) => {
        const tenantId = context.principal.tenantId;
        const [summary, counts, recent, position] = await Promise.all([
          healthSummary(projection, tenantId, DASHBOARD_TOP),
          openAlertCounts(projection, tenantId),
          listAlerts(projection, tenantId, { state: 'open', limit: DASHBOARD_RECENT_ALERTS }),
          lastAppliedPosition(projection, tenantId),
        ]);
        return fresh({
          position,
          services: { total: summary.total, by_health: summary.by_health },
          alerts: { ...counts, recent },
          top_cpu: summary.top_cpu,
          top_memory: summary.top_memory,
        });
      },
    }),
  ];
}

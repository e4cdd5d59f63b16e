/**
 * The query parameters and response bodies of the read API. Each zod schema is the one source of
 * a parameter's validation, its TypeScript type and its OpenAPI entry.
 */
import { z } from 'zod';
import { cursorParam } from './cursor.js';

export const HEALTH = ['healthy', 'degraded', 'down', 'unknown'] as const;
export type Health = (typeof HEALTH)[number];
export const SEVERITIES = ['warning', 'critical'] as const;
export const ALERT_STATES = ['open', 'resolved'] as const;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const timestamp = z.iso.datetime({ offset: true });

const limit = (fallback: number, max: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(max)
    .default(fallback)
    .meta({ description: `Page size, 1..${max} (default ${fallback})` });

/** A query parameter given as a comma-separated list (`health=down,unknown`) or repeated. */
const list = <const V extends readonly [string, ...string[]]>(values: V) => {
  const known = (item: string): item is V[number] => values.includes(item);
  return z.union([z.string(), z.array(z.string())]).transform((value, ctx) => {
    const items = (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(','));
    const unknown = items.filter((item) => !known(item));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown ${unknown.map((item) => JSON.stringify(item)).join(', ')}; expected ${values.join(', ')}`,
      });
      return z.NEVER;
    }
    return items.filter(known);
  });
};

/** `label=env:prod`, repeatable: services carrying all the given labels. */
const labels = z
  .union([z.string(), z.array(z.string())])
  .transform((value, ctx) => {
    const selector: Record<string, string> = {};
    for (const pair of Array.isArray(value) ? value : [value]) {
      const colon = pair.indexOf(':');
      if (colon < 1) {
        ctx.addIssue({ code: 'custom', message: `expected key:value, got ${JSON.stringify(pair)}` });
        return z.NEVER;
      }
      selector[pair.slice(0, colon)] = pair.slice(colon + 1);
    }
    return selector;
  })
  .meta({ description: 'key:value; repeat for several labels, all of which must match' });

export interface TimeRange {
  fromMs: number;
  toMs: number;
}

/** `to` defaults to now and `from` to `defaultSpanMs` before `to`. */
export function resolveRange(
  query: { from?: string | undefined; to?: string | undefined },
  defaultSpanMs: number,
  now: number,
): TimeRange {
  const toMs = query.to === undefined ? now : Date.parse(query.to);
  const fromMs = query.from === undefined ? toMs - defaultSpanMs : Date.parse(query.from);
  return { fromMs, toMs };
}

const rangeFields = {
  from: timestamp.optional().meta({ description: 'Inclusive start, RFC 3339' }),
  to: timestamp.optional().meta({ description: 'Exclusive end, RFC 3339 (default now)' }),
};

/** Checks from/to against each other with their defaults applied. */
const checkRange =
  (defaultSpanMs: number, maxSpanMs: number) =>
  (query: { from?: string | undefined; to?: string | undefined }, ctx: z.RefinementCtx) => {
    const { fromMs, toMs } = resolveRange(query, defaultSpanMs, Date.now());
    if (fromMs >= toMs) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    else if (toMs - fromMs > maxSpanMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: `the range may span at most ${maxSpanMs / DAY_MS} days`,
      });
    }
  };

export const HOURLY_DEFAULT_SPAN_MS = DAY_MS;
export const RAW_DEFAULT_SPAN_MS = HOUR_MS;

export const queries = {
  services: z.object({
    label: labels.optional(),
    health: list(HEALTH)
      .optional()
      .meta({ description: `Comma-separated: ${HEALTH.join(', ')}` }),
    limit: limit(100, 1_000),
    cursor: cursorParam(z.tuple([z.string(), z.uuid()])).optional(),
  }),
  metricsLatest: z.object({
    limit: limit(100, 1_000),
    cursor: cursorParam(z.tuple([z.uuid()])).optional(),
  }),
  hourly: z.object(rangeFields).superRefine(checkRange(HOURLY_DEFAULT_SPAN_MS, 92 * DAY_MS)),
  processes: z.object({
    sort: z.enum(['cpu', 'memory']).default('cpu'),
    limit: limit(20, 1_000),
  }),
  alerts: z.object({
    state: z.enum(ALERT_STATES).optional(),
    service: z.uuid().optional().meta({ description: 'Only alerts of this service' }),
    severity: z.enum(SEVERITIES).optional(),
    limit: limit(100, 1_000),
    cursor: cursorParam(z.tuple([timestamp, z.uuid()])).optional(),
  }),
  raw: z
    .object({
      ...rangeFields,
      limit: limit(1_000, 10_000),
      cursor: cursorParam(z.tuple([timestamp])).optional(),
    })
    .superRefine(checkRange(RAW_DEFAULT_SPAN_MS, 31 * DAY_MS)),
};

export const params = { serviceId: z.object({ id: z.uuid() }) };

const time = z.string().meta({ description: 'RFC 3339, UTC' });
const gauges = {
  cpu_usage: z.number(),
  memory_usage: z.number(),
  disk_usage: z.number(),
  load_avg: z.number(),
  network_rx_bytes: z.number(),
  network_tx_bytes: z.number(),
  gpu_usage: z.number().nullable(),
};
const sample = z.object({ observed_at: time, ...gauges }).meta({ id: 'Sample' });
const latest = z.object({ service_id: z.uuid(), ...sample.shape }).meta({ id: 'LatestMetrics' });
const stat = z.object({ avg: z.number(), min: z.number(), max: z.number() });

const service = z
  .object({
    id: z.uuid(),
    name: z.string().nullable(),
    hostname: z.string().nullable(),
    os: z.string().nullable(),
    version: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    registered_at: time.nullable(),
    last_heartbeat_at: time.nullable(),
    health: z.enum(HEALTH).meta({
      description:
        'unknown: no heartbeat yet; down: none within the tenant heartbeat limit; degraded: open alerts',
    }),
    latest: z
      .object({ observed_at: time, cpu_usage: z.number(), memory_usage: z.number(), disk_usage: z.number() })
      .nullable(),
    avg_1h: z
      .object({
        cpu_usage: z.number().nullable(),
        memory_usage: z.number().nullable(),
        disk_usage: z.number().nullable(),
      })
      .meta({ description: 'Averages over the hour holding the latest sample' }),
    open_alerts: z.number().int(),
  })
  .meta({ id: 'ServiceStatus' });

const alert = z
  .object({
    id: z.uuid(),
    service_id: z.uuid(),
    rule: z.enum(['cpu', 'memory', 'disk', 'heartbeat']),
    severity: z.enum(SEVERITIES),
    state: z.enum(ALERT_STATES),
    value: z.number().nullable(),
    threshold: z.number(),
    opened_at: time,
    resolved_at: time.nullable(),
  })
  .meta({ id: 'Alert' });

const nextCursor = z
  .string()
  .nullable()
  .meta({ description: 'Pass as cursor for the next page; null on the last' });
const position = z
  .string()
  .nullable()
  .meta({ description: 'Position token of the last command applied for this tenant' });

const stage = z
  .object({
    name: z.enum(['relay', 'projection', 'replica']),
    lag_seconds: z.number().nullable(),
    backlog: z.number().nullable().meta({ description: 'Events (relay, projection) or WAL bytes (replica)' }),
    detail: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Stage' });

export const responses = {
  services: z.object({ services: z.array(service), next_cursor: nextCursor }).meta({ id: 'ServiceList' }),
  service,
  latest,
  latestList: z
    .object({ metrics: z.array(latest), next_cursor: nextCursor })
    .meta({ id: 'LatestMetricsList' }),
  hourly: z
    .object({
      service_id: z.uuid(),
      from: time,
      to: time,
      buckets: z.array(
        z.object({
          hour: time,
          count: z.number().int(),
          cpu_usage: stat,
          memory_usage: stat,
          disk_usage: stat,
          load_avg: stat,
          gpu_usage: stat.extend({ count: z.number().int() }).nullable(),
        }),
      ),
    })
    .meta({ id: 'HourlyMetrics' }),
  processes: z
    .object({
      service_id: z.uuid(),
      processes: z.array(
        z.object({
          pid: z.number().int(),
          process_name: z.string(),
          cpu_usage: z.number(),
          memory_usage: z.number(),
          observed_at: time,
        }),
      ),
    })
    .meta({ id: 'Processes' }),
  alerts: z.object({ alerts: z.array(alert), next_cursor: nextCursor }).meta({ id: 'AlertList' }),
  raw: z
    .object({
      service_id: z.uuid(),
      from: time,
      to: time,
      samples: z.array(sample),
      next_cursor: nextCursor,
    })
    .meta({
      id: 'RawMetrics',
      description: 'Served-by and staleness are in X-Pulse-Served-By and X-Pulse-Staleness-Seconds',
    }),
  syncStatus: z.object({ position, stages: z.array(stage) }).meta({ id: 'SyncStatus' }),
  dashboard: z
    .object({
      position,
      services: z.object({ total: z.number().int(), by_health: z.record(z.enum(HEALTH), z.number().int()) }),
      alerts: z.object({
        open: z.number().int(),
        open_by_severity: z.record(z.enum(SEVERITIES), z.number().int()),
        recent: z.array(alert),
      }),
      top_cpu: z.array(service),
      top_memory: z.array(service),
    })
    .meta({ id: 'Dashboard' }),
};

export type ServiceStatus = z.infer<typeof service>;
export type Alert = z.infer<typeof alert>;
export type Stage = z.infer<typeof stage>;
export type LatestMetrics = z.infer<typeof latest>;

/**
 * Folds a batch of events into the changes it makes to the projections, in memory, before one
 * transaction applies them. Pure: no I/O, so the projection math is tested on its own. Every
 * change here is a merge that gives the same result whatever order its events arrive in
 * (latest-by-observed_at, additive buckets with min/max, newest process snapshot), which is what
 * makes replays, rebuilds and the incremental projection agree.
 */
import type { AlertRules, AnyEvent, EventPayload, SystemSample } from '@pulse/core';

export const GAUGES = ['cpu_usage', 'memory_usage', 'disk_usage', 'load_avg', 'gpu_usage'] as const;
export type Gauge = (typeof GAUGES)[number];

export interface GaugeStats {
  count: number;
  sum: number;
  min: number;
  max: number;
}

export interface HourlyBucket {
  tenantId: string;
  serviceId: string;
  /** Start of the hour, ISO 8601 UTC. */
  hour: string;
  samples: number;
  gauges: Partial<Record<Gauge, GaugeStats>>;
}

export interface LatestSample {
  tenantId: string;
  serviceId: string;
  sample: SystemSample;
}

export interface ProcessSnapshot {
  tenantId: string;
  serviceId: string;
  observedAt: string;
  processes: EventPayload<'metrics.process.recorded'>['processes'];
}

export interface Registration extends EventPayload<'service.registered'> {
  tenantId: string;
  serviceId: string;
}

export interface AppliedEvent {
  id: string;
  tenantId: string;
  position: string;
  recordedAt: string;
}

export interface ProjectionChanges {
  registrations: Map<string, Registration>;
  heartbeats: Map<string, { tenantId: string; observedAt: string }>;
  latest: Map<string, LatestSample>;
  hourly: Map<string, HourlyBucket>;
  processes: Map<string, ProcessSnapshot>;
  alertRules: Map<string, AlertRules>;
  /** Services whose alerts must be re-evaluated after the changes are applied. */
  touchedServices: Map<string, string>;
  events: AppliedEvent[];
}

export function emptyChanges(): ProjectionChanges {
  return {
    registrations: new Map(),
    heartbeats: new Map(),
    latest: new Map(),
    hourly: new Map(),
    processes: new Map(),
    alertRules: new Map(),
    touchedServices: new Map(),
    events: [],
  };
}

export function hourOf(timestamp: string): string {
  const date = new Date(timestamp);
  date.setUTCMinutes(0, 0, 0);
  return date.toISOString();
}

/** Whether timestamp a is later than b (RFC 3339 strings with any offset). */
export const isLater = (a: string, b: string): boolean => Date.parse(a) > Date.parse(b);

export function mergeStats(into: GaugeStats | undefined, value: number): GaugeStats {
  if (!into) return { count: 1, sum: value, min: value, max: value };
  return {
    count: into.count + 1,
    sum: into.sum + value,
    min: Math.min(into.min, value),
    max: Math.max(into.max, value),
  };
}

function addSample(
  changes: ProjectionChanges,
  tenantId: string,
  serviceId: string,
  sample: SystemSample,
): void {
  const hour = hourOf(sample.observed_at);
  const key = `${serviceId}|${hour}`;
  const bucket = changes.hourly.get(key) ?? { tenantId, serviceId, hour, samples: 0, gauges: {} };
  bucket.samples += 1;
  for (const gauge of GAUGES) {
    const value = sample[gauge];
    if (value !== undefined) bucket.gauges[gauge] = mergeStats(bucket.gauges[gauge], value);
  }
  changes.hourly.set(key, bucket);

  const latest = changes.latest.get(serviceId);
  if (!latest || isLater(sample.observed_at, latest.sample.observed_at)) {
    changes.latest.set(serviceId, { tenantId, serviceId, sample });
  }
}

/** Adds one event's effect to the changes of its batch. */
export function foldEvent(changes: ProjectionChanges, event: AnyEvent): void {
  const { tenant_id: tenantId, aggregate_id: aggregateId } = event;
  changes.events.push({ id: event.id, tenantId, position: event.position, recordedAt: event.recorded_at });
  switch (event.type) {
    case 'service.registered':
      changes.registrations.set(aggregateId, { ...event.payload, tenantId, serviceId: aggregateId });
      break;
    case 'service.heartbeat': {
      const known = changes.heartbeats.get(aggregateId);
      if (!known || isLater(event.payload.observed_at, known.observedAt)) {
        changes.heartbeats.set(aggregateId, { tenantId, observedAt: event.payload.observed_at });
      }
      changes.touchedServices.set(aggregateId, tenantId);
      break;
    }
    case 'metrics.system.recorded':
      for (const sample of event.payload.samples) addSample(changes, tenantId, aggregateId, sample);
      changes.touchedServices.set(aggregateId, tenantId);
      break;
    case 'metrics.process.recorded': {
      const known = changes.processes.get(aggregateId);
      if (!known || !isLater(known.observedAt, event.payload.observed_at)) {
        changes.processes.set(aggregateId, {
          tenantId,
          serviceId: aggregateId,
          observedAt: event.payload.observed_at,
          processes: event.payload.processes,
        });
      }
      break;
    }
    case 'tenant.alert_rules.updated':
      changes.alertRules.set(tenantId, event.payload.rules);
      break;
  }
}

export function foldEvents(events: Iterable<AnyEvent>): ProjectionChanges {
  const changes = emptyChanges();
  for (const event of events) foldEvent(changes, event);
  return changes;
}

/**
 * The Prometheus metric source: one instant query per input against the HTTP API
 * (`/api/v1/query`), run in parallel, each bounded by a timeout. Every query may be replaced through
 * `spec.prometheus.queries`; docs/operator.md explains the built-in PromQL.
 */
import type { PrometheusQueryName } from '../api/constants.js';
import type { ReplicationLagSpec } from '../api/spec.js';
import type { StageStatus } from '../api/types.js';
import type { SharedQueries } from './shared-queries.js';
import type { Measurements, MetricSource } from './source.js';

export type PrometheusQueries = Record<PrometheusQueryName, string>;

/** The built-in PromQL over the replicator's metrics (services/replicator/src/metrics.ts). */
export function defaultQueries(): PrometheusQueries {
  // Only the relay leader reports the backlog gauges, but a former leader's last values may linger
  // until its series go stale: take one value per partition rather than summing duplicates.
  const backlogPerPartition = 'max by (partition) (pulse_projection_backlog_events)';
  return {
    // Events published to Kafka are what arrives at the projection stage.
    arrivalRate: 'sum(rate(pulse_relay_published_total[1m]))',
    // Events applied per second of apply time: the throughput of one busy projector (each replica
    // applies one batch at a time), unlike applied / replicas, which idling drags down. The apply
    // time excludes the Kafka fetch, so this is an upper bound; an idle window gives 0/0 = NaN.
    perReplicaRate:
      'sum(rate(pulse_projection_applied_total[1m]))' +
      ' / sum(rate(pulse_projection_apply_duration_seconds_sum[1m]))',
    partitions: `count(${backlogPerPartition})`,
    relayLagSeconds: `max(pulse_relay_lag_seconds)`,
    relayBacklog: `max(pulse_relay_unpublished_events)`,
    projectionLagSeconds: `max(pulse_projection_current_lag_seconds)`,
    projectionBacklog: `sum(${backlogPerPartition})`,
    replicaLagSeconds: `max(pulse_replica_lag_seconds)`,
    replicaLagBytes: `max(pulse_replica_lag_bytes)`,
  };
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** What `/api/v1/query` answers (https://prometheus.io/docs/prometheus/latest/querying/api/). */
export type QueryData =
  | { resultType: 'vector'; result: Sample[] }
  | { resultType: 'scalar'; result: [number, string] }
  | { resultType: 'matrix' | 'string'; result: unknown };

interface QueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: QueryData;
}

export class QueryError extends Error {
  override name = 'QueryError';

  /** Prometheus' errorType (`bad_data`, `execution`, `timeout`, ...) when it answered one. */
  constructor(
    message: string,
    readonly errorType?: string,
  ) {
    super(message);
  }

  /** The query itself is at fault (it does not parse, or cannot be evaluated), not the way to it. */
  get isQueryFault(): boolean {
    return this.errorType === 'bad_data' || this.errorType === 'execution';
  }
}

/**
 * One instant query, sent as a form POST so that a long (batched) expression fits, and answered
 * uncompressed: on loopback or inside a cluster, inflating the small answers cost the operator more
 * CPU (12 % of its busy time) than the bytes saved.
 */
export async function instantQuery(address: string, promql: string, signal: AbortSignal): Promise<QueryData> {
  const url = new URL('api/v1/query', address.endsWith('/') ? address : `${address}/`);
  const response = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams({ query: promql }),
    headers: { 'accept-encoding': 'identity' },
    signal,
  });
  const body = (await response.json().catch(() => undefined)) as QueryResponse | undefined;
  if (!response.ok || body?.status !== 'success' || body.data === undefined) {
    throw new QueryError(body?.error ?? `HTTP ${response.status}`, body?.errorType);
  }
  return body.data;
}

/**
 * The single number an answer holds, or undefined when it holds nothing (no series, NaN, an
 * infinity). More than one series is an error: summing or picking one would hide a query that
 * does not say what it means.
 */
export function singleNumber(data: QueryData): number | undefined {
  let text: string | undefined;
  if (data.resultType === 'scalar') text = data.result[1];
  else if (data.resultType === 'vector') {
    if (data.result.length > 1) throw new QueryError(`returned ${data.result.length} series, not one`);
    text = data.result[0]?.value[1];
  } else throw new QueryError(`returned a ${data.resultType}, not a number`);
  const value = text === undefined ? undefined : Number(text);
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/** One query of one Prometheus, as a key of the caches that remember queries. */
export const queryKey = (address: string, promql: string) => `${address}\n${promql}`;

export async function queryNumber(
  address: string,
  promql: string,
  signal: AbortSignal,
): Promise<number | undefined> {
  return singleNumber(await instantQuery(address, promql, signal));
}

export interface PrometheusSourceOptions {
  /** Answers each query, bounded in time (a Prometheus that does not answer counts as missing data). */
  queries: SharedQueries;
  /** The oldest shared answer this source accepts. */
  maxAgeMs: number;
}

export class PrometheusSource implements MetricSource {
  private readonly address: string;
  private readonly queries: PrometheusQueries;

  constructor(
    prometheus: ReplicationLagSpec['prometheus'],
    private readonly options: PrometheusSourceOptions,
  ) {
    this.address = prometheus.address;
    this.queries = { ...defaultQueries(), ...definedOnly(prometheus.queries ?? {}) };
  }

  async measure(signal: AbortSignal): Promise<Measurements> {
    const failures: Measurements['failures'] = [];
    const names = Object.keys(this.queries) as PrometheusQueryName[];
    const values = await Promise.all(
      names.map(async (name) => {
        try {
          // The answer may be shared with other resources; this poll just stops waiting for it.
          return await untilAborted(
            this.options.queries.query(this.address, this.queries[name], this.options.maxAgeMs),
            signal,
          );
        } catch (error) {
          failures.push({ input: name, message: errorMessage(error) });
          return undefined;
        }
      }),
    );
    const v = Object.fromEntries(names.map((name, index) => [name, values[index]])) as Record<
      PrometheusQueryName,
      number | undefined
    >;
    const stages: StageStatus[] = [
      { name: 'relay', lagSeconds: v.relayLagSeconds, backlog: v.relayBacklog },
      { name: 'projection', lagSeconds: v.projectionLagSeconds, backlog: v.projectionBacklog },
      { name: 'replica', lagSeconds: v.replicaLagSeconds, lagBytes: v.replicaLagBytes },
    ];
    return {
      sample: {
        arrivalRate: v.arrivalRate,
        backlog: v.projectionBacklog,
        perReplicaRate: v.perReplicaRate,
        lagSeconds: v.projectionLagSeconds,
        partitions: v.partitions,
      },
      stages: stages.map(definedOnly).filter((stage) => Object.keys(stage).length > 1),
      failures,
    };
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', abort);
    });
  });
}

/** Drops undefined values: the API server would store nothing for them anyway, and tests compare. */
function definedOnly<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    // fetch wraps the interesting part (ECONNREFUSED, a timeout) in its cause.
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

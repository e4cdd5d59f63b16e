/** The Prometheus text format, for the counters of the operator, Prometheus and the API server. */
import { kubectl } from './fixtures.js';
import { round } from './round.js';

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string, only?: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || (only !== undefined && !line.startsWith(only))) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match?.[1] || match[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (pair[1] !== undefined) labels[pair[1]] = pair[2] ?? '';
    }
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return series;
}

export function matching(series: Series[], name: string, labels: Record<string, string> = {}): Series[] {
  return series.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
}

export const total = (series: Series[]) => series.reduce((sum, s) => sum + s.value, 0);

function totalBy(series: Series[], label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of series) out[s.labels[label] ?? ''] = (out[s.labels[label] ?? ''] ?? 0) + s.value;
  return out;
}

export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.text();
}

/** The API server requests the operator makes per reconcile (and for its lease), by status code. */
export const API_REQUESTS = {
  statusPatches: { resource: 'replicationlags', subresource: 'status', verb: 'PATCH' },
  scaleReads: { resource: 'deployments', subresource: 'scale', verb: 'GET' },
  scaleWrites: { resource: 'deployments', subresource: 'scale', verb: 'PATCH' },
  leaseUpdates: { resource: 'leases', verb: 'PUT' },
  eventsCreated: { resource: 'events', verb: 'POST' },
} as const;

export interface Counters {
  monoMs: number;
  reconciles: Record<string, number>;
  reconcileSeconds: { sum: number; count: number };
  watchRestarts: number;
  leader: number;
  /** prom-client's process metrics of the operator, in MiB. */
  memory: { heapUsedMb: number; heapTotalMb: number; externalMb: number };
  prometheusQueries: Record<string, number>;
  apiserver: Record<keyof typeof API_REQUESTS, Record<string, number>>;
}

export async function counters(
  operatorUrl: string,
  prometheusUrl: string,
  kubeconfig: string,
): Promise<Counters> {
  const [operatorText, prometheusText, apiserverText] = await Promise.all([
    fetchText(`${operatorUrl}/metrics`),
    fetchText(`${prometheusUrl}/metrics`),
    kubectl(kubeconfig, ['get', '--raw', '/metrics'], 60_000),
  ]);
  const op = parseExposition(operatorText).filter(
    (s) => s.name.startsWith('pulse_operator_') || s.name.startsWith('nodejs_'),
  );
  const prom = parseExposition(prometheusText, 'prometheus_http_requests_total');
  const api = parseExposition(apiserverText, 'apiserver_request_total{');
  const apiserver = Object.fromEntries(
    Object.entries(API_REQUESTS).map(([key, labels]) => [
      key,
      totalBy(matching(api, 'apiserver_request_total', labels), 'code'),
    ]),
  ) as Counters['apiserver'];
  return {
    monoMs: performance.now(),
    reconciles: totalBy(matching(op, 'pulse_operator_reconciles_total'), 'result'),
    reconcileSeconds: {
      sum: total(matching(op, 'pulse_operator_reconcile_duration_seconds_sum')),
      count: total(matching(op, 'pulse_operator_reconcile_duration_seconds_count')),
    },
    watchRestarts: total(matching(op, 'pulse_operator_watch_restarts_total')),
    leader: total(matching(op, 'pulse_operator_leader')),
    memory: {
      heapUsedMb: round(total(matching(op, 'nodejs_heap_size_used_bytes')) / 2 ** 20),
      heapTotalMb: round(total(matching(op, 'nodejs_heap_size_total_bytes')) / 2 ** 20),
      externalMb: round(total(matching(op, 'nodejs_external_memory_bytes')) / 2 ** 20),
    },
    prometheusQueries: totalBy(
      matching(prom, 'prometheus_http_requests_total', { handler: '/api/v1/query' }),
      'code',
    ),
    apiserver,
  };
}

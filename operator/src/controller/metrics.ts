/** The operator's own Prometheus metrics: `pulse_operator_<what>_<unit>`. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const RECONCILE_RESULTS = [
  'scaled',
  'unchanged',
  'invalid_spec',
  'target_missing',
  'conflict',
  'error',
] as const;
export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];

export interface OperatorMetrics {
  reconciles: Counter<'result'>;
  reconcileDuration: Histogram;
  leader: Gauge;
  watchRestarts: Counter<'resource'>;
  watchHealthy: Gauge<'resource'>;
}

export function createOperatorMetrics(registry: Registry): OperatorMetrics {
  const registers = [registry];
  const reconciles = new Counter({
    name: 'pulse_operator_reconciles_total',
    help: 'Reconciles of ReplicationLag resources, by result',
    labelNames: ['result'],
    registers,
  });
  // Every result from the start, so a rate() over a result that has not happened yet is 0, not absent.
  for (const result of RECONCILE_RESULTS) reconciles.inc({ result }, 0);
  return {
    reconciles,
    reconcileDuration: new Histogram({
      name: 'pulse_operator_reconcile_duration_seconds',
      help: 'Time of one reconcile: read, measure, decide, scale, write status',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    leader: new Gauge({
      name: 'pulse_operator_leader',
      help: '1 while this process holds the leader lease and acts',
      registers,
    }),
    watchRestarts: new Counter({
      name: 'pulse_operator_watch_restarts_total',
      help: 'Times a watch failed and was restarted after a backoff',
      labelNames: ['resource'],
      registers,
    }),
    watchHealthy: new Gauge({
      name: 'pulse_operator_watch_healthy',
      help: '1 while the watch is established, 0 while it is failing and being restarted',
      labelNames: ['resource'],
      registers,
    }),
  };
}

export type { Measurements, MetricSource } from './source.js';
export {
  defaultQueries,
  instantQuery,
  PrometheusSource,
  QueryError,
  queryNumber,
  type PrometheusQueries,
  type PrometheusSourceOptions,
} from './prometheus.js';
export { QueryBatcher } from './batched-queries.js';
export { SharedQueries, type AskPrometheus, type SharedQueriesOptions } from './shared-queries.js';

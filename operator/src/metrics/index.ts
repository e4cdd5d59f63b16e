export type { Measurements, MetricSource } from './source.js';
export {
  defaultQueries,
  PrometheusSource,
  QueryError,
  queryNumber,
  type PrometheusQueries,
  type PrometheusSourceOptions,
} from './prometheus.js';
export { SharedQueries, type AskPrometheus, type SharedQueriesOptions } from './shared-queries.js';

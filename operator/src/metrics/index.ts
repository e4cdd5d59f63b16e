export type { Measurements, MetricSource } from './source.js';
export {
  defaultQueries,
  instantQuery,
  PrometheusSource,
  QueryError,
  queryNumber,
  singleNumber,
  type QueryData,
  type PrometheusQueries,
  type PrometheusSourceOptions,
} from './prometheus.js';
export { BATCH_LABEL, QueryBatcher, type QueryBatcherOptions } from './batched-queries.js';
export { SharedQueries, type AskPrometheus, type SharedQueriesOptions } from './shared-queries.js';

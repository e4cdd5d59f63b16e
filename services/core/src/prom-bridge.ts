/**
 * A prom-client registry as an OpenTelemetry MetricProducer: every collection of the metric reader
 * reads the registry and translates it. The registry stays the one place where Pulse's metrics are
 * defined and updated, so the scraped /metrics and the pushed OTLP metrics cannot drift apart, and
 * a metric registered after telemetry starts (the replicator's own) is bridged without naming it.
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Registry } from 'prom-client';

/**
 * What getMetricsAsJSON() returns at run time: prom-client's typings declare `type` as a numeric
 * enum and leave out `metricName`, which tells a histogram's _bucket, _sum and _count apart.
 */
interface PromMetric {
  name: string;
  help: string;
  type: string;
  values: { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[];
}

export function registryProducer(registry: Registry, resource: Resource): MetricProducer {
  // prom-client keeps no start time per series, and its counters and histograms only reset with the
  // process, so the producer's creation is the start of every cumulative series.
  const startTime = hrTime();
  return {
    async collect() {
      const endTime = hrTime();
      const promMetrics = (await registry.getMetricsAsJSON()) as unknown as PromMetric[];
      const metrics = promMetrics.flatMap((metric) => translate(metric, startTime, endTime));
      return {
        resourceMetrics: { resource, scopeMetrics: [{ scope: { name: 'prom-client' }, metrics }] },
        errors: [],
      };
    },
  };
}

function translate(metric: PromMetric, startTime: HrTime, endTime: HrTime): MetricData[] {
  // No unit: Pulse's names already end in theirs, and Prometheus' OTLP receiver would append it again.
  const descriptor = { name: metric.name, description: metric.help, unit: '', valueType: ValueType.DOUBLE };
  const common = { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE };
  const points = () =>
    metric.values.map(({ labels, value }) => ({
      startTime,
      endTime,
      attributes: attributesOf(labels),
      value,
    }));
  switch (metric.type) {
    case 'counter':
      return [{ ...common, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: points() }];
    case 'gauge':
      return [{ ...common, dataPointType: DataPointType.GAUGE, dataPoints: points() }];
    case 'histogram':
      return [
        {
          ...common,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: histogramPoints(metric, startTime, endTime),
        },
      ];
    default:
      // Summaries: the SDK's MetricData has no summary point to carry quantiles in, and Pulse defines none.
      return [];
  }
}

function histogramPoints(metric: PromMetric, startTime: HrTime, endTime: HrTime): DataPoint<Histogram>[] {
  const series = new Map<
    string,
    { attributes: Attributes; cumulative: [number, number][]; sum: number; count: number }
  >();
  for (const { labels, value, metricName } of metric.values) {
    const { le, ...rest } = labels;
    const attributes = attributesOf(rest);
    const key = JSON.stringify(attributes);
    let entry = series.get(key);
    if (!entry) series.set(key, (entry = { attributes, cumulative: [], sum: 0, count: 0 }));
    if (metricName === `${metric.name}_bucket`)
      entry.cumulative.push([le === '+Inf' ? Infinity : Number(le), value]);
    else if (metricName === `${metric.name}_sum`) entry.sum = value;
    else if (metricName === `${metric.name}_count`) entry.count = value;
  }
  // prom-client lists each series' buckets in ascending order, ending with +Inf, as the text format
  // needs; OTel wants the finite bounds and one count per bucket rather than counts up to each bound.
  return [...series.values()].map(({ attributes, cumulative, sum, count }) => ({
    startTime,
    endTime,
    attributes,
    value: {
      sum,
      count,
      buckets: {
        boundaries: cumulative.slice(0, -1).map(([bound]) => bound),
        counts: cumulative.map(([, n], i) => n - (cumulative[i - 1]?.[1] ?? 0)),
      },
    },
  }));
}

/** Label values as strings, as Prometheus has them whichever way they were set. */
function attributesOf(labels: Record<string, string | number | undefined>): Attributes {
  const attributes: Attributes = {};
  for (const [name, value] of Object.entries(labels))
    if (value !== undefined) attributes[name] = String(value);
  return attributes;
}

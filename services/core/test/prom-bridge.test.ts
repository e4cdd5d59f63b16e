import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyResource } from '@opentelemetry/resources';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registryProducer } from '../src/prom-bridge.js';

async function bridged(registry: Registry): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await registryProducer(registry, emptyResource()).collect();
  assert.deepEqual(errors, []);
  const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  return new Map(metrics.map((metric) => [metric.descriptor.name, metric]));
}

describe('registryProducer', () => {
  it('turns counters into monotonic sums and gauges into gauges, with the default labels', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'test' });
    new Counter({ name: 'pulse_test_total', help: 'c', registers: [registry] }).inc(3);
    const gauge = new Gauge({
      name: 'pulse_test_backlog',
      help: 'g',
      labelNames: ['partition'],
      registers: [registry],
    });
    gauge.set({ partition: '0' }, 7);
    gauge.set({ partition: '1' }, 2);

    const metrics = await bridged(registry);
    const counter = metrics.get('pulse_test_total');
    assert.equal(counter?.dataPointType, DataPointType.SUM);
    assert.equal(counter.isMonotonic, true);
    assert.deepEqual(
      counter.dataPoints.map((p) => [p.attributes, p.value]),
      [[{ service: 'test' }, 3]],
    );
    const backlog = metrics.get('pulse_test_backlog');
    assert.equal(backlog?.dataPointType, DataPointType.GAUGE);
    assert.deepEqual(
      backlog.dataPoints.map((p) => [p.attributes, p.value]),
      [
        [{ partition: '0', service: 'test' }, 7],
        [{ partition: '1', service: 'test' }, 2],
      ],
    );
  });

  it('turns cumulative Prometheus buckets into per-bucket counts, one point per label set', async () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'pulse_test_seconds',
      help: 'h',
      labelNames: ['route'],
      buckets: [0.1, 1],
      registers: [registry],
    });
    for (const value of [0.05, 0.5, 0.7, 3]) histogram.observe({ route: 'a' }, value);
    histogram.observe({ route: 'b' }, 0.01);

    const metric = (await bridged(registry)).get('pulse_test_seconds');
    assert.equal(metric?.dataPointType, DataPointType.HISTOGRAM);
    assert.deepEqual(
      metric.dataPoints.map((p) => [p.attributes, p.value]),
      [
        [{ route: 'a' }, { sum: 4.25, count: 4, buckets: { boundaries: [0.1, 1], counts: [1, 2, 1] } }],
        [{ route: 'b' }, { sum: 0.01, count: 1, buckets: { boundaries: [0.1, 1], counts: [1, 0, 0] } }],
      ],
    );
  });

  it('reads metrics registered after it was created, on every collection', async () => {
    const registry = new Registry();
    const producer = registryProducer(registry, emptyResource());
    new Gauge({ name: 'pulse_test_late', help: 'g', registers: [registry] }).set(1);
    const { resourceMetrics } = await producer.collect();
    assert.deepEqual(
      resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => m.descriptor.name)),
      ['pulse_test_late'],
    );
  });
});

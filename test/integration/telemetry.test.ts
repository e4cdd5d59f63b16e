/**
 * OpenTelemetry export against the real parts. Metrics: the replicator pushes its prom-client
 * registry to Prometheus' OTLP receiver, next to the scrape of its /metrics. Traces: one command,
 * sent with a traceparent of the test's choosing, is followed from the write service's HTTP span
 * through the relay's producer span to the projector's consumer span, as received by an OTLP/HTTP
 * endpoint in this test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../harness/ports.js';
import { startService, type RunningService } from '../harness/services.js';
import { suiteScope, testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import { call, createTenant, expectStatus, newAdminKey } from './support/api.js';
import { metricValue, sampleAt, startReplicator } from './support/pipeline.js';

/** The fields of OTLP/HTTP JSON (ids in hex) that the assertions need. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  links?: { traceId: string; spanId: string }[];
}
interface OtlpTraces {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}
type ReceivedSpan = OtlpSpan & { service: string | undefined };

const SPAN_KIND = { server: 2, producer: 4, consumer: 5 } as const;

interface QueryResponse {
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('telemetry: OTLP metrics to Prometheus, one trace from HTTP to the projection', () => {
  let stack: TestStack;
  let receiver: Server;
  const received: ReceivedSpan[] = [];
  const services: RunningService[] = [];
  let replicator: RunningService;
  // Only the OTLP push carries this as the `instance` label (from service.instance.id).
  const instance = `telemetry-${randomBytes(4).toString('hex')}`;
  const traceId = randomBytes(16).toString('hex');
  const clientSpanId = randomBytes(8).toString('hex');

  before(async () => {
    stack = await testStack(['postgres', 'kafka', 'prometheus']);
    const scope = await suiteScope(stack, 'telemetry');
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces') received.push(...spansOf(Buffer.concat(chunks).toString()));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const traces = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    const adminKey = newAdminKey();
    const write = await startService({ ...stack.info, env: { ...stack.env, ...scope } }, 'write', {
      instance: 'telemetry-write',
      port: await freePort(),
      env: { PULSE_BOOTSTRAP_ADMIN_KEY: adminKey, PULSE_RATE_LIMIT_PER_SECOND: '0', ...traces },
    });
    services.push(write);
    replicator = await startReplicator(stack, scope, 'telemetry-replicator', {
      ...traces,
      PULSE_OTLP_METRICS_ENDPOINT: `${stack.env.PULSE_OTLP_ENDPOINT ?? ''}/v1/metrics`,
      PULSE_OTLP_METRICS_INTERVAL_MS: '1000',
      OTEL_RESOURCE_ATTRIBUTES: `service.instance.id=${instance}`,
    });
    services.push(replicator);

    // Two events: the registration (a trace of its own) and the sample (the test's trace).
    const tenant = await createTenant(write.url, adminKey);
    const registered = await expectStatus(
      call(write.url, 'POST', '/services', { key: tenant.key, body: { name: 'traced', hostname: 'host-1' } }),
      201,
    );
    const sample = await fetch(`${write.url}/api/v1/metrics/system`, {
      method: 'POST',
      headers: {
        'x-api-key': tenant.key,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${clientSpanId}-01`,
      },
      body: JSON.stringify({ service_id: registered.id, ...sampleAt(new Date(), 42) }),
    });
    assert.equal(sample.status, 202, await sample.text());
  });

  after(async () => {
    for (const service of services.reverse()) await service.stop();
    await new Promise((resolve) => receiver.close(resolve));
    await stack.release();
  });

  it('follows the command from the HTTP request through the relay into the projector', async () => {
    const { server, producer, consumer } = await waitFor(
      'the write, relay and projector spans of the test trace',
      () => {
        const server = received.find(
          (s) => s.traceId === traceId && s.parentSpanId === clientSpanId && s.kind === SPAN_KIND.server,
        );
        const producer = received.find((s) => s.traceId === traceId && s.kind === SPAN_KIND.producer);
        const consumer =
          producer &&
          received.find(
            (s) =>
              s.kind === SPAN_KIND.consumer &&
              s.links?.some((l) => l.traceId === traceId && l.spanId === producer.spanId),
          );
        return server && producer && consumer && { server, producer, consumer };
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    assert.equal(server.service, 'pulse-write');
    assert.equal(producer.service, 'pulse-replicator');
    assert.equal(consumer.service, 'pulse-replicator');
    // The outbox row carried the request's context: the producer span is a descendant of the server
    // span, inside the write service.
    const writeSpans = new Set(
      received.filter((s) => s.traceId === traceId && s.service === 'pulse-write').map((s) => s.spanId),
    );
    assert.ok(writeSpans.has(server.spanId));
    assert.ok(
      producer.parentSpanId && writeSpans.has(producer.parentSpanId),
      'producer parent is a write span',
    );
  });

  it('pushes the replicator registry to Prometheus over OTLP, with the scraped labels and values', async () => {
    const series = (name: string) => `${name}{job="pulse-replicator",instance="${instance}"}`;
    const query = async (promql: string) => {
      const url = `${stack.env.PULSE_PROMETHEUS_URL ?? ''}/api/v1/query?query=${encodeURIComponent(promql)}`;
      return ((await (await fetch(url)).json()) as QueryResponse).data.result;
    };
    const lag = await waitFor(
      'pulse_relay_lag_seconds pushed over OTLP',
      async () => (await query(series('pulse_relay_lag_seconds')))[0],
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(lag.metric.service, 'replicator');
    assert.ok(Number(lag.value[1]) >= 0);

    // Both events published and applied: the counter, the histogram's count and the per-partition
    // gauges read the same over OTLP as at /metrics.
    await waitFor(
      'the published count and publish batches over OTLP to match /metrics',
      async () => {
        const published = await metricValue(replicator.url, 'pulse_relay_published_total');
        const batches = await metricValue(replicator.url, 'pulse_relay_publish_duration_seconds_count');
        const [otlpPublished] = await query(series('pulse_relay_published_total'));
        const [otlpBatches] = await query(series('pulse_relay_publish_duration_seconds_count'));
        return (
          published === 2 &&
          Number(otlpPublished?.value[1]) === published &&
          Number(otlpBatches?.value[1]) === batches
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const backlog = await waitFor(
      'pulse_projection_backlog_events for every partition over OTLP',
      async () => {
        const result = await query(series('pulse_projection_backlog_events'));
        return result.length === 4 && result;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.deepEqual(backlog.map((r) => r.metric.partition).sort(), ['0', '1', '2', '3']);
    const currentLag = await waitFor(
      'pulse_projection_current_lag_seconds over OTLP',
      async () => (await query(series('pulse_projection_current_lag_seconds')))[0],
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.match(currentLag.metric.partition ?? '', /^[0-3]$/);
  });
});

function spansOf(body: string): ReceivedSpan[] {
  const { resourceSpans } = JSON.parse(body) as OtlpTraces;
  return resourceSpans.flatMap(({ resource, scopeSpans }) => {
    const service = resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
    return scopeSpans.flatMap(({ spans }) => spans.map((span) => ({ ...span, service })));
  });
}

/**
 * Metrics (prom-client, scraped at /metrics) and tracing (OpenTelemetry with W3C trace context).
 * Each service creates one registry and one tracer provider at start. Both leave the process over
 * OTLP/HTTP only when configured: spans when the standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is
 * set, the registry as OpenTelemetry metrics when PULSE_OTLP_METRICS_ENDPOINT is. Metrics have a
 * variable of their own because Prometheus scrapes them anyway: pointing traces at a collector
 * must not start a second copy of every series.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
  type Resource,
} from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { envField, parseConfig } from './config.js';
import { registryProducer } from './prom-bridge.js';

export interface Telemetry {
  registry: Registry;
  tracer: Tracer;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  /** Ends both providers, exporting the spans still queued and the metrics one last time. */
  shutdown: () => Promise<void>;
}

const telemetryConfigSchema = z.object({
  // Only checked here; the OTLP exporter reads these (and OTEL_EXPORTER_OTLP_HEADERS etc.) itself.
  OTEL_EXPORTER_OTLP_ENDPOINT: envField.of(z.url().optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: envField.of(z.url().optional()),
  /** The full URL, e.g. Prometheus' `http://host:9090/api/v1/otlp/v1/metrics`. */
  PULSE_OTLP_METRICS_ENDPOINT: envField.of(z.url().optional()),
  PULSE_OTLP_METRICS_INTERVAL_MS: envField.integer(15_000, { min: 100 }),
});

export function createTelemetry(service: string): Telemetry {
  const config = parseConfig(telemetryConfigSchema);
  const resource = serviceResource(service);
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const exportSpans = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? config.OTEL_EXPORTER_OTLP_ENDPOINT;
  const provider = new NodeTracerProvider({
    resource,
    // Batched, so that no request waits for the collector; OTEL_BSP_* tune the batches.
    spanProcessors: exportSpans ? [new BatchSpanProcessor(new OTLPTraceExporter())] : [],
  });
  // register() installs the AsyncLocalStorage context manager and the W3C traceparent propagator,
  // so spans started in a request handler parent everything awaited beneath it.
  provider.register();
  const meterProvider = config.PULSE_OTLP_METRICS_ENDPOINT
    ? new MeterProvider({
        resource,
        readers: [
          new PeriodicExportingMetricReader({
            exporter: new OTLPMetricExporter({ url: config.PULSE_OTLP_METRICS_ENDPOINT }),
            exportIntervalMillis: config.PULSE_OTLP_METRICS_INTERVAL_MS,
            metricProducers: [registryProducer(registry, resource)],
          }),
        ],
      })
    : undefined;
  return {
    registry,
    tracer: trace.getTracer(`pulse-${service}`),
    httpRequests: new Counter({
      name: 'pulse_http_requests_total',
      help: 'HTTP requests answered, by route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'pulse_http_request_duration_seconds',
      help: 'HTTP request duration from arrival to the last byte written',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    shutdown: async () => {
      await Promise.all([provider.shutdown(), meterProvider?.shutdown()]);
    },
  };
}

/**
 * service.name becomes the `job` label in Prometheus and service.instance.id the `instance`, so
 * replicas push distinct series. OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME apply last, so a
 * deployment can use the pod name as the instance.
 */
function serviceResource(service: string): Resource {
  return defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: `pulse-${service}`,
        [ATTR_SERVICE_INSTANCE_ID]: randomUUID(),
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
}

/** The W3C traceparent of the active span, for carrying the trace through the outbox and Kafka. */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/**
 * Metrics (prom-client, scraped at /metrics) and tracing (OpenTelemetry with W3C trace context).
 * Each service creates one registry and one tracer provider at start.
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export interface Telemetry {
  registry: Registry;
  tracer: Tracer;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  shutdown: () => Promise<void>;
}

export function createTelemetry(service: string): Telemetry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  // register() installs the AsyncLocalStorage context manager and the W3C traceparent propagator,
  // so spans started in a request handler parent everything awaited beneath it.
  const provider = new NodeTracerProvider();
  provider.register();
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
    shutdown: () => provider.shutdown(),
  };
}

/** The W3C traceparent of the active span, for carrying the trace through the outbox and Kafka. */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

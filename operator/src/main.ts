/** The operator process: reconciles ReplicationLags, serves /metrics, /livez and /readyz, until SIGTERM. */
// The core's parts, not its index: the operator needs no database, migrations or API routes, and
// loading them cost about 14 MB of RSS (docs/benchmarks/2026-11-22-hand-measurements.md, session 7).
import { ConfigError } from '@pulse/core/config';
import { createHttpApp, serve } from '@pulse/core/http';
import { createLogger } from '@pulse/core/logger';
import { createTelemetry } from '@pulse/core/telemetry';
import { loadOperatorConfig, operatorIdentity, operatorNamespace } from './config.js';
import { kubeClients } from './controller/kube.js';
import { createOperatorMetrics } from './controller/metrics.js';
import { Operator } from './controller/operator.js';

async function main(): Promise<void> {
  const config = loadOperatorConfig();
  const logger = createLogger('operator', config.PULSE_LOG_LEVEL);
  const telemetry = createTelemetry('operator');
  const namespace = operatorNamespace(config);
  const identity = operatorIdentity(config);
  const second = 1000;
  const operator = new Operator(
    {
      namespace,
      identity,
      leaderElection: config.PULSE_LEADER_ELECTION_ENABLED
        ? {
            leaseName: config.PULSE_LEADER_ELECTION_LEASE_NAME,
            leaseDurationMs: config.PULSE_LEADER_ELECTION_LEASE_DURATION_SECONDS * second,
            renewDeadlineMs: config.PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS * second,
            retryPeriodMs: config.PULSE_LEADER_ELECTION_RETRY_PERIOD_SECONDS * second,
          }
        : undefined,
      concurrency: config.PULSE_OPERATOR_CONCURRENCY,
      backoff: { initialMs: 500, maxMs: 30 * second },
      watchTimeoutSeconds: config.PULSE_WATCH_TIMEOUT_SECONDS,
      reconciler: {
        prometheusTimeoutMs: config.PULSE_PROMETHEUS_TIMEOUT_MS,
        prometheusCacheTtlMs: config.PULSE_PROMETHEUS_CACHE_TTL_MS,
        prometheusBatchWindowMs: config.PULSE_PROMETHEUS_BATCH_WINDOW_MS,
        prometheusBatchMax: config.PULSE_PROMETHEUS_BATCH_MAX,
        conflictRetryMs: second,
      },
    },
    {
      kube: kubeClients(),
      metrics: createOperatorMetrics(telemetry.registry),
      tracer: telemetry.tracer,
      logger,
    },
  );
  const http = createHttpApp({
    logger,
    telemetry,
    bodyLimit: '1kb',
    readiness: () =>
      operator.ready
        ? Promise.resolve()
        : Promise.reject(new Error('the ReplicationLag watch is not established')),
    openapi: () => ({
      openapi: '3.1.0',
      info: { title: 'Pulse operator (operational endpoints only)', version: '1' },
      paths: {},
    }),
    mount: () => undefined,
  });
  operator.start();
  logger.info({ namespace, identity }, 'operator started');
  await serve(http, {
    port: config.PULSE_HTTP_PORT,
    host: config.PULSE_HTTP_HOST,
    logger,
    graceMs: 2_000,
    onClose: async () => {
      await operator.stop();
      await telemetry.shutdown();
    },
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exit(1);
});

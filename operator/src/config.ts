/** The operator's configuration, from PULSE_* variables (the Kubernetes client reads KUBECONFIG). */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { envField, parseConfig } from '@pulse/core/config';
import { z } from 'zod';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export const operatorConfigSchema = z
  .object({
    /** Where the ReplicationLags, their targets and the lease live; in a pod, its own namespace. */
    PULSE_OPERATOR_NAMESPACE: envField.of(z.string().min(1).optional()),
    PULSE_HTTP_PORT: envField.port(8084),
    PULSE_HTTP_HOST: envField.httpHost(),
    PULSE_LOG_LEVEL: envField.logLevel(),
    /** ReplicationLags reconciled at the same time. */
    PULSE_OPERATOR_CONCURRENCY: envField.integer(4, { min: 1, max: 64 }),
    PULSE_PROMETHEUS_TIMEOUT_MS: envField.integer(5_000, { min: 100, max: 60_000 }),
    /** Resources asking the same query of the same Prometheus share its answer this long; 0 turns it off. */
    PULSE_PROMETHEUS_CACHE_TTL_MS: envField.integer(5_000, { max: 60_000 }),
    /** Queries to one Prometheus are collected this long into one request; 0 sends each alone. */
    PULSE_PROMETHEUS_BATCH_WINDOW_MS: envField.integer(50, { max: 1_000 }),
    PULSE_PROMETHEUS_BATCH_MAX: envField.integer(100, { min: 1, max: 1_000 }),
    /** The server ends each watch after this; the client gives up 30 s later on a silent connection. */
    PULSE_WATCH_TIMEOUT_SECONDS: envField.integer(300, { min: 10, max: 3_600 }),
    PULSE_LEADER_ELECTION_ENABLED: envField.boolean(true),
    PULSE_LEADER_ELECTION_LEASE_NAME: envField.of(z.string().min(1).default('pulse-operator')),
    /** Unique per process: a restarted pod must not inherit its predecessor's lease. */
    PULSE_LEADER_ELECTION_IDENTITY: envField.of(z.string().min(1).max(128).optional()),
    // client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    PULSE_LEADER_ELECTION_LEASE_DURATION_SECONDS: envField.integer(15, { min: 2, max: 300 }),
    PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: envField.integer(10, { min: 1, max: 300 }),
    PULSE_LEADER_ELECTION_RETRY_PERIOD_SECONDS: envField.integer(2, { min: 1, max: 60 }),
  })
  .refine(
    (c) => c.PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS < c.PULSE_LEADER_ELECTION_LEASE_DURATION_SECONDS,
    {
      // Otherwise a leader that cannot renew could still act after a successor took over.
      message: 'must be less than PULSE_LEADER_ELECTION_LEASE_DURATION_SECONDS',
      path: ['PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS'],
    },
  )
  .refine(
    (c) => c.PULSE_LEADER_ELECTION_RETRY_PERIOD_SECONDS < c.PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS,
    {
      message: 'must be less than PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS',
      path: ['PULSE_LEADER_ELECTION_RETRY_PERIOD_SECONDS'],
    },
  );

export type OperatorConfig = z.infer<typeof operatorConfigSchema>;

export const loadOperatorConfig = (env: NodeJS.ProcessEnv = process.env): OperatorConfig =>
  parseConfig(operatorConfigSchema, env);

/** The configured namespace, else the pod's (from its service account), else `default`. */
export function operatorNamespace(config: OperatorConfig): string {
  if (config.PULSE_OPERATOR_NAMESPACE !== undefined) return config.PULSE_OPERATOR_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    return 'default';
  }
}

export const operatorIdentity = (config: OperatorConfig): string =>
  config.PULSE_LEADER_ELECTION_IDENTITY ?? `${hostname()}_${process.pid}`;

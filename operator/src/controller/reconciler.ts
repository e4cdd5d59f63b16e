/**
 * One reconcile of one ReplicationLag, level-triggered: whatever happened before, it reads the
 * spec, the target's scale and the metrics as they are now, decides, scales if the decision differs
 * from the target's count, and writes the status. Running it twice in a row changes nothing the
 * second time (bar the decision time). Phases: validate, observe, scale (scale.ts), status
 * (status.ts).
 */
import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '@pulse/core/logger';
import { GROUP, PLURAL, SPEC_DEFAULTS, VERSION } from '../api/constants.js';
import { parseReplicationLagSpec, type ReplicationLagSpec } from '../api/spec.js';
import type { ReplicationLag } from '../api/types.js';
import { QueryBatcher } from '../metrics/batched-queries.js';
import { PrometheusSource } from '../metrics/prometheus.js';
import { SharedQueries } from '../metrics/shared-queries.js';
import { decide, recordScaleEvent, type Decision, type ScalingHistory } from '../policy/index.js';
import { replicasText } from '../policy/text.js';
import { findCondition } from './conditions.js';
import type { EventRecorder, EventToRecord } from './events.js';
import { httpStatus, mergePatch, type KubeClients } from './kube.js';
import type { OperatorMetrics, ReconcileResult } from './metrics.js';
import type { WorkResult } from './queue.js';
import { readScale, writeScale, type TargetScale } from './scale.js';
import { blockedStatus, decidedStatus, type StatusPatch } from './status.js';

export interface ReconcilerOptions {
  /** Bound on each Prometheus query; a poll also stops waiting at its own interval. */
  prometheusTimeoutMs: number;
  /** How long an answer of Prometheus is shared by the resources asking the same query (see SharedQueries). */
  prometheusCacheTtlMs: number;
  /** How long queries to one Prometheus are collected into one request, and how many at most (see QueryBatcher). */
  prometheusBatchWindowMs: number;
  prometheusBatchMax: number;
  /** How soon to retry after losing a race for the target's scale. */
  conflictRetryMs: number;
}

export interface ReconcilerDeps {
  cache: ObjectCache<ReplicationLag>;
  kube: KubeClients;
  events: EventRecorder;
  metrics: OperatorMetrics;
  tracer: Tracer;
  logger: Logger;
  options: ReconcilerOptions;
}

export const resourceKey = (namespace: string, name: string) => `${namespace}/${name}`;

interface Outcome {
  result: ReconcileResult;
  requeueAfterMs: number | undefined;
}

export class Reconciler {
  /** The policy's memory per resource (key -> history); lost on restart or failover, by design. */
  private readonly histories = new Map<string, ScalingHistory>();

  private readonly queries: SharedQueries;

  constructor(private readonly deps: ReconcilerDeps) {
    const { options } = deps;
    const batcher = new QueryBatcher({
      windowMs: options.prometheusBatchWindowMs,
      maxBatch: options.prometheusBatchMax,
      timeoutMs: options.prometheusTimeoutMs,
    });
    this.queries = new SharedQueries({ ttlMs: options.prometheusCacheTtlMs, ask: batcher.ask });
  }

  /** Forgets what the policy remembered: a new leader starts afresh, as the policy expects. */
  forgetAll(): void {
    this.histories.clear();
  }

  reconcile = async (key: string): Promise<WorkResult> => {
    const [namespace = '', name = ''] = key.split('/');
    const started = performance.now();
    return this.deps.tracer.startActiveSpan(
      'reconcile ReplicationLag',
      { attributes: { 'k8s.namespace.name': namespace, 'pulse.replicationlag': name } },
      async (span) => {
        try {
          const outcome = await this.reconcileResource(key, namespace, name);
          span.setAttribute('pulse.reconcile.result', outcome.result);
          this.deps.metrics.reconciles.inc({ result: outcome.result });
          return { requeueAfterMs: outcome.requeueAfterMs };
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR });
          this.deps.metrics.reconciles.inc({ result: 'error' });
          throw error;
        } finally {
          this.deps.metrics.reconcileDuration.observe((performance.now() - started) / 1000);
          span.end();
        }
      },
    );
  };

  private async reconcileResource(key: string, namespace: string, name: string): Promise<Outcome> {
    const resource = this.deps.cache.get(name, namespace);
    if (resource === undefined) {
      // Deleted: nothing to do until it comes back (the informer adds it then).
      this.histories.delete(key);
      return { result: 'unchanged', requeueAfterMs: undefined };
    }
    const parsed = parseReplicationLagSpec(resource.spec);
    if (!parsed.ok) {
      await this.block(resource, 'InvalidSpec', `The spec is invalid: ${parsed.error}`);
      return { result: 'invalid_spec', requeueAfterMs: SPEC_DEFAULTS.pollIntervalSeconds * 1000 };
    }
    const { spec } = parsed;
    const poll = spec.pollIntervalSeconds * 1000;
    const target = spec.scaleTargetRef.name;

    let scale: TargetScale;
    try {
      scale = await readScale(this.deps.kube.apps, namespace, target);
    } catch (error) {
      if (httpStatus(error) !== 404) throw error;
      await this.block(resource, 'TargetNotFound', `Deployment ${target} does not exist in ${namespace}.`);
      return { result: 'target_missing', requeueAfterMs: poll };
    }

    // A shared answer at most a third of a poll old: a decision never rests on a much older reading.
    const source = new PrometheusSource(spec.prometheus, { queries: this.queries, maxAgeMs: poll / 3 });
    const measurements = await source.measure(AbortSignal.timeout(poll));
    if (measurements.failures.length > 0) {
      this.deps.logger.warn({ resource: key, failures: measurements.failures }, 'metric queries failed');
    }
    const now = new Date();
    const decision = decide({
      now: now.getTime(),
      currentReplicas: scale.replicas,
      metrics: measurements.sample,
      spec,
      history: this.histories.get(key),
    });
    this.histories.set(key, decision.history);

    let scaledAt: Date | undefined;
    if (decision.desired !== scale.replicas) {
      try {
        await writeScale(this.deps.kube.apps, namespace, target, scale, decision.desired);
      } catch (error) {
        if (httpStatus(error) !== 409) throw error;
        this.deps.logger.info({ resource: key }, 'the target was scaled concurrently; deciding again');
        return { result: 'conflict', requeueAfterMs: this.deps.options.conflictRetryMs };
      }
      scaledAt = now;
      this.histories.set(
        key,
        recordScaleEvent(decision.history, now.getTime(), scale.replicas, decision.desired),
      );
      this.deps.logger.info(
        { resource: key, from: scale.replicas, to: decision.desired, reason: decision.reason },
        'scaled',
      );
      await this.deps.events.record(resource, scaleEvent(spec, scale.replicas, decision));
    }

    await this.patchStatus(
      resource,
      decidedStatus({
        resource,
        spec,
        now,
        measurements,
        decision,
        observedReplicas: scale.observedReplicas,
        ...(scaledAt === undefined ? {} : { scaledAt }),
      }),
    );
    await this.warnOnReadyChange(resource, decision);
    return { result: scaledAt === undefined ? 'unchanged' : 'scaled', requeueAfterMs: poll };
  }

  /** Ready=False for a reason that stops the reconcile, and a Warning the first time it is seen. */
  private async block(resource: ReplicationLag, reason: string, message: string): Promise<void> {
    const before = findCondition(resource.status?.conditions, 'Ready');
    await this.patchStatus(resource, blockedStatus(resource, new Date(), reason, message));
    if (before?.reason !== reason) {
      await this.deps.events.record(resource, {
        type: 'Warning',
        reason,
        action: 'Reconcile',
        note: message,
      });
    }
  }

  /** A Warning when a decision starts holding for lack of metrics; holding again says nothing new. */
  private async warnOnReadyChange(resource: ReplicationLag, decision: Decision): Promise<void> {
    const before = findCondition(resource.status?.conditions, 'Ready');
    if (decision.basis === 'hold' && before?.reason !== 'MetricsMissing') {
      await this.deps.events.record(resource, {
        type: 'Warning',
        reason: 'MetricsMissing',
        action: 'Hold',
        note: decision.reason,
      });
    }
  }

  private async patchStatus(resource: ReplicationLag, status: StatusPatch): Promise<void> {
    const { name = '', namespace = '' } = resource.metadata;
    await this.deps.kube.customObjects.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
      mergePatch,
    );
  }
}

function scaleEvent(spec: ReplicationLagSpec, from: number, decision: Decision): EventToRecord {
  const up = decision.desired > from;
  return {
    type: 'Normal',
    reason: up ? 'ScaledUp' : 'ScaledDown',
    action: 'Scale',
    note: `Scaled deploy/${spec.scaleTargetRef.name} from ${from} to ${replicasText(decision.desired)}. ${decision.reason}`,
    related: {
      apiVersion: spec.scaleTargetRef.apiVersion,
      kind: spec.scaleTargetRef.kind,
      name: spec.scaleTargetRef.name,
    },
  };
}

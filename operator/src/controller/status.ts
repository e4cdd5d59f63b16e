/**
 * The status phase of a reconcile: what `status` says after a decision, or after a reconcile that
 * could not decide, as a JSON merge patch for the status subresource. Pure, so that every field can
 * be checked without an API server.
 */
import { printerFields } from '../api/printer.js';
import type { ReplicationLagSpec } from '../api/spec.js';
import type { LimitReason } from '../api/constants.js';
import type {
  ReplicationLag,
  ReplicationLagStatus,
  ScalingDecisionStatus,
  StageStatus,
} from '../api/types.js';
import type { Measurements } from '../metrics/source.js';
import type { Decision } from '../policy/types.js';
import { mergeConditions, type ConditionUpdate } from './conditions.js';

/**
 * A merge patch of the status. `null` deletes a field: a value that is unknown now must not leave
 * the last known one on display (RFC 7396; `undefined` would just be dropped by JSON).
 */
export type StatusPatch = {
  [K in Exclude<keyof ReplicationLagStatus, 'lastDecision'>]?: ReplicationLagStatus[K] | null;
} & {
  lastDecision?: Omit<ScalingDecisionStatus, 'limitedBy'> & { limitedBy: LimitReason | null };
};

export interface DecidedStatusInput {
  resource: ReplicationLag;
  spec: ReplicationLagSpec;
  now: Date;
  measurements: Measurements;
  decision: Decision;
  /** The target's replicas as its scale subresource reports them (pods that exist). */
  observedReplicas: number;
  /** Set when this reconcile changed the replica count. */
  scaledAt?: Date;
}

/** Ready, from the decision: an operator that holds for lack of metrics is not doing its job. */
function readiness(decision: Decision): ConditionUpdate {
  return decision.basis === 'hold'
    ? {
        type: 'Ready',
        status: 'False',
        reason: 'MetricsMissing',
        message: 'Holding the replica count until the metrics return.',
      }
    : { type: 'Ready', status: 'True', reason: 'Scaling', message: 'Scaling on the measured lag.' };
}

/** The API stores integer fields as integers; Prometheus answers floats (a summed gauge, say). */
function integral(stage: StageStatus): StageStatus {
  return {
    ...stage,
    ...(stage.backlog === undefined ? {} : { backlog: Math.round(stage.backlog) }),
    ...(stage.lagBytes === undefined ? {} : { lagBytes: Math.round(stage.lagBytes) }),
  };
}

const orNull = <T>(value: T | undefined): T | null => value ?? null;

export function decidedStatus(input: DecidedStatusInput): StatusPatch {
  const { resource, spec, now, measurements, decision } = input;
  const stages = measurements.stages.map(integral);
  const printed = printerFields(spec.scaleTargetRef, stages, measurements.sample.arrivalRate);
  const conditions = mergeConditions(
    resource.status?.conditions,
    [readiness(decision), ...decision.conditions],
    resource.metadata.generation,
    now,
  );
  return {
    observedGeneration: orNull(resource.metadata.generation),
    target: printed.target,
    lag: orNull(printed.lag),
    backlog: orNull(printed.backlog === undefined ? undefined : Math.round(printed.backlog)),
    replicaLag: orNull(printed.replicaLag),
    arrivalRate: orNull(printed.arrivalRate),
    stages,
    perReplicaRate: orNull(measurements.sample.perReplicaRate),
    partitions: orNull(spec.partitions ?? measurements.sample.partitions),
    currentReplicas: input.observedReplicas,
    desiredReplicas: decision.desired,
    ...(input.scaledAt === undefined ? {} : { lastScaleTime: input.scaledAt.toISOString() }),
    lastDecision: {
      time: now.toISOString(),
      basis: decision.basis,
      recommendation: decision.recommendation,
      desired: decision.desired,
      // The CRD caps the sentence; a long list of missing inputs must not make the patch fail.
      reason: decision.reason.slice(0, 4096),
      // null, not absent: the merge patch would otherwise keep the previous decision's limit.
      limitedBy: orNull(decision.limitedBy),
    },
    conditions,
  };
}

/**
 * The status of a reconcile that stopped before deciding (invalid spec, missing target): Ready
 * says why, and the last measurements stay up, as they are still the latest known.
 */
export function blockedStatus(
  resource: ReplicationLag,
  now: Date,
  reason: string,
  message: string,
): StatusPatch {
  const ready: ConditionUpdate = { type: 'Ready', status: 'False', reason, message };
  return {
    observedGeneration: orNull(resource.metadata.generation),
    conditions: mergeConditions(resource.status?.conditions, [ready], resource.metadata.generation, now),
  };
}

/**
 * TypeScript shapes of a ReplicationLag resource. The spec's types come from its zod schema
 * (spec.ts); the status is written only by the controller, so it needs no parser, and a test checks
 * that the CRD's status schema declares every field here (the API server would silently prune a
 * field it does not know).
 */
import type { API_VERSION, ConditionType, DecisionBasis, KIND, LimitReason, StageName } from './constants.js';
import type { ReplicationLagSpec } from './spec.js';

/** The standard metav1.Condition shape. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  /** The generation the condition was computed for. */
  observedGeneration?: number;
  /** RFC 3339 time of the last change of `status`, not of the last write. */
  lastTransitionTime: string;
  /** CamelCase, machine-readable. */
  reason: string;
  message: string;
}

export interface StageStatus {
  name: StageName;
  lagSeconds?: number;
  /** Events waiting: unpublished outbox rows (relay), unapplied Kafka offsets (projection). */
  backlog?: number;
  /** Only for the replica stage, whose backlog is WAL not yet replayed, in bytes. */
  lagBytes?: number;
}

export interface ScalingDecisionStatus {
  /** RFC 3339 time of the decision. */
  time: string;
  basis: DecisionBasis;
  /** The replica count the metrics alone asked for, before tolerance, windows, policies and bounds. */
  recommendation: number;
  desired: number;
  /** A sentence a person can act on: what was measured, what it asked for, what held it back. */
  reason: string;
  limitedBy?: LimitReason;
}

export interface ReplicationLagStatus {
  observedGeneration?: number;
  /** `deploy/<name>`, for the TARGET column. */
  target?: string;
  /** End-to-end lag (relay + projection) as kubectl shows it, e.g. `0.4s`. */
  lag?: string;
  /** Events written but not yet visible to readers (relay + projection backlog). */
  backlog?: number;
  /** Replay lag of the read replicas as kubectl shows it, e.g. `0.1s`. */
  replicaLag?: string;
  stages?: StageStatus[];
  /** Events per second entering the pipeline. */
  arrivalRate?: number;
  /** Events per second one busy replicator replica applies. */
  perReplicaRate?: number;
  /** Partitions of the topic: the cap on useful replicas. */
  partitions?: number;
  currentReplicas?: number;
  desiredReplicas?: number;
  /** RFC 3339 time the controller last changed the target's replica count. */
  lastScaleTime?: string;
  lastDecision?: ScalingDecisionStatus;
  conditions?: Condition[];
}

/** The metadata fields this API relies on; @kubernetes/client-node's V1ObjectMeta satisfies it. */
export interface ResourceMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: Date | string;
}

export interface ReplicationLag {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ResourceMetadata;
  spec: ReplicationLagSpec;
  status?: ReplicationLagStatus;
}

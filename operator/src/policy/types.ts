import type { ConditionType, DecisionBasis, LimitReason } from '../api/constants.js';
import type { ReplicationLagSpec } from '../api/spec.js';

/**
 * One poll's measurements of the stage the target works on (the projection). Any field may be
 * missing; a value that cannot be a measurement (NaN, infinite, negative, a zero rate, a
 * fractional partition count) counts as missing.
 */
export interface MetricsSample {
  /** λ, events per second entering the stage. */
  arrivalRate?: number | undefined;
  /** B, events waiting in the stage. */
  backlog?: number | undefined;
  /**
   * μ, events per second one replica applies while it is busy. Pass undefined when it is not
   * trustworthy (too few events in the rate window, replicas idle): an idle replica's throughput
   * understates its capacity and would over-provision.
   */
  perReplicaRate?: number | undefined;
  /** L, seconds from commit to applied. */
  lagSeconds?: number | undefined;
  /** P, partitions of the topic as discovered; `spec.partitions` takes precedence. */
  partitions?: number | undefined;
}

/** The part of the spec the policy reads, with defaults applied. */
export type PolicySpec = Pick<
  ReplicationLagSpec,
  'targetLagSeconds' | 'minReplicas' | 'maxReplicas' | 'partitions' | 'tolerance' | 'behavior'
>;

/** Times are milliseconds since the epoch. */
export interface TimedRecommendation {
  time: number;
  replicas: number;
}

/** A change of the target's replica count that the controller made: `change` is signed. */
export interface ScaleEvent {
  time: number;
  change: number;
}

/**
 * What the policy remembers between polls, per resource: the recommendations inside the longest
 * stabilization window and the scale events inside the longest policy period. Plain data, so the
 * controller may keep it in memory or persist it.
 */
export interface ScalingHistory {
  recommendations: TimedRecommendation[];
  scaleEvents: ScaleEvent[];
}

export interface DecisionInput {
  /** Milliseconds since the epoch. */
  now: number;
  /** The target's replica count from its scale subresource. */
  currentReplicas: number;
  metrics: MetricsSample;
  spec: PolicySpec;
  /** The `history` of the previous decision; undefined the first time (after a start or failover). */
  history: ScalingHistory | undefined;
}

/** A condition as the policy sees it; the controller adds the transition time and generation. */
export interface ConditionHint {
  type: Exclude<ConditionType, 'Ready'>;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface Decision {
  /** The replica count to set. */
  desired: number;
  /** What the metrics alone asked for, before tolerance, windows, policies and bounds. */
  recommendation: number;
  basis: DecisionBasis;
  /** The constraint that set `desired` when it differs from `recommendation`. */
  limitedBy?: LimitReason;
  /** The decision in sentences: what was measured, what it asked for, what held it back. */
  reason: string;
  conditions: ConditionHint[];
  /** Pass to the next decision; add a scale event with recordScaleEvent once a scale succeeds. */
  history: ScalingHistory;
}

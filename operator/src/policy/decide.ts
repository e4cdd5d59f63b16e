/**
 * The scaling decision for one ReplicationLag at one poll, as a pure function: estimate, tolerance,
 * stabilization, step policies, bounds, in that order, and the reason for the result.
 * docs/scaling-policy.md describes the model and every knob.
 */
import type { LimitReason } from '../api/constants.js';
import { formatSeconds } from '../api/printer.js';
import { limitBySteps, stabilize } from './behavior.js';
import { estimateReplicas, trustMetrics, type Estimate, type TrustedMetrics } from './estimate.js';
import { pruneHistory, startHistory } from './history.js';
import { replicasText } from './text.js';
import type { ConditionHint, Decision, DecisionInput, PolicySpec, ScalingHistory } from './types.js';

/** The hard limits: bounds win over every other step, so a decision is never outside them. */
interface ReplicaBounds {
  lower: number;
  upper: number;
  /** The partition count in force (the spec's, else the discovered one), if known. */
  partitions?: number;
}

/**
 * Replicas beyond the partition count would get no partition to consume, so the partitions cap
 * maxReplicas, and minReplicas too when it is larger still.
 */
function replicaBounds(spec: PolicySpec, discoveredPartitions: number | undefined): ReplicaBounds {
  const partitions = spec.partitions ?? discoveredPartitions;
  const upper = partitions === undefined ? spec.maxReplicas : Math.min(spec.maxReplicas, partitions);
  return {
    lower: Math.min(spec.minReplicas, upper),
    upper,
    ...(partitions === undefined ? {} : { partitions }),
  };
}

const clamp = (replicas: number, bounds: ReplicaBounds) =>
  Math.min(bounds.upper, Math.max(bounds.lower, replicas));

/**
 * Whether a move from `currentReplicas` to `replicas` is small enough to ignore. Compared as a
 * difference rather than a ratio because 11 / 10 - 1 is 0.10000000000000009, which would put the
 * edge of a 10 % band outside it; the epsilon absorbs the same noise in `tolerance * current`.
 */
function withinTolerance(replicas: number, currentReplicas: number, tolerance: number): boolean {
  return currentReplicas > 0 && Math.abs(replicas - currentReplicas) <= tolerance * currentReplicas + 1e-9;
}

export function decide(input: DecisionInput): Decision {
  const { now, currentReplicas, spec } = input;
  const previous = pruneHistory(input.history ?? startHistory(currentReplicas, now), spec.behavior, now);
  const metrics = trustMetrics(input.metrics);
  const bounds = replicaBounds(spec, metrics.partitions);
  const estimate = estimateReplicas(metrics, currentReplicas, spec.targetLagSeconds);
  const step =
    estimate.basis === 'hold'
      ? hold(currentReplicas, bounds, spec)
      : scale(estimate.replicas, currentReplicas, previous, bounds, spec, now);
  const limitedBy = estimate.basis === 'hold' ? 'metricsMissing' : step.limit;
  const outcome = describeOutcome(step, currentReplicas, bounds, spec);
  return {
    desired: step.desired,
    recommendation: step.raw,
    basis: estimate.basis,
    ...(limitedBy === undefined ? {} : { limitedBy }),
    reason: `${estimate.explanation} ${outcome}`,
    conditions: conditionHints(estimate, metrics, limitedBy, outcome, spec),
    history: {
      recommendations: [...previous.recommendations, { time: now, replicas: step.remembered }],
      scaleEvents: previous.scaleEvents,
    },
  };
}

/** How a recommendation became the desired count. */
interface Step {
  raw: number;
  /** What the stabilization windows remember of this poll. */
  remembered: number;
  desired: number;
  /** The step that set `desired`, if any did. */
  limit: Exclude<LimitReason, 'metricsMissing'> | undefined;
}

/**
 * Without metrics only the bounds may move the count (after a spec change). Holding is the
 * recommendation, so it enters the windows too: once metrics return, a scale-down still needs a
 * full window of evidence.
 */
function hold(currentReplicas: number, bounds: ReplicaBounds, spec: PolicySpec): Step {
  const desired = clamp(currentReplicas, bounds);
  const limit = desired === currentReplicas ? undefined : boundHit(desired > currentReplicas, bounds, spec);
  return { raw: currentReplicas, remembered: currentReplicas, desired, limit };
}

function scale(
  raw: number,
  currentReplicas: number,
  previous: ScalingHistory,
  bounds: ReplicaBounds,
  spec: PolicySpec,
  now: number,
): Step {
  const recommendation = withinTolerance(raw, currentReplicas, spec.tolerance) ? currentReplicas : raw;
  const stabilized = stabilize(recommendation, currentReplicas, previous.recommendations, spec.behavior, now);
  const stepped = limitBySteps(stabilized, currentReplicas, previous.scaleEvents, spec.behavior, now);
  const desired = clamp(stepped, bounds);
  const limit = bindingStep(
    { raw, recommendation, stabilized, stepped, desired },
    currentReplicas,
    bounds,
    spec,
  );
  return { raw, remembered: recommendation, desired, limit };
}

/** The last step that moved the value is the one that decided it. */
function bindingStep(
  values: { raw: number; recommendation: number; stabilized: number; stepped: number; desired: number },
  currentReplicas: number,
  bounds: ReplicaBounds,
  spec: PolicySpec,
): Step['limit'] {
  const { raw, recommendation, stabilized, stepped, desired } = values;
  if (desired !== stepped) return boundHit(desired > stepped, bounds, spec);
  if (stepped !== stabilized) return stabilized > currentReplicas ? 'scaleUpPolicy' : 'scaleDownPolicy';
  if (stabilized !== recommendation) return 'stabilization';
  if (recommendation !== raw) return 'tolerance';
  return undefined;
}

function boundHit(raised: boolean, bounds: ReplicaBounds, spec: PolicySpec): 'min' | 'max' | 'partitions' {
  if (raised) return 'min';
  return bounds.upper < spec.maxReplicas ? 'partitions' : 'max';
}

/** `Keeping 3 replicas.` or `Scaling from 3 to 5 replicas: <what held it there>.` */
function describeOutcome(
  step: Step,
  currentReplicas: number,
  bounds: ReplicaBounds,
  spec: PolicySpec,
): string {
  const { desired } = step;
  const action =
    desired === currentReplicas
      ? `Keeping ${replicasText(desired)}`
      : `Scaling from ${currentReplicas} to ${replicasText(desired)}`;
  const because = limitText(step, currentReplicas, bounds, spec);
  return because === undefined ? `${action}.` : `${action}: ${because}.`;
}

function limitText(
  { raw, limit }: Step,
  currentReplicas: number,
  bounds: ReplicaBounds,
  spec: PolicySpec,
): string | undefined {
  const { scaleUp, scaleDown } = spec.behavior;
  switch (limit) {
    case undefined:
      return undefined;
    case 'tolerance':
      return `${raw} is within the ${formatPercent(spec.tolerance)} tolerance`;
    case 'stabilization':
      return raw < currentReplicas
        ? `the highest recommendation of the last ${formatSeconds(scaleDown.stabilizationWindowSeconds)} (scale-down stabilization window)`
        : `the lowest recommendation of the last ${formatSeconds(scaleUp.stabilizationWindowSeconds)} (scale-up stabilization window)`;
    case 'scaleUpPolicy':
      return scaleUp.selectPolicy === 'Disabled'
        ? 'scaling up is disabled (selectPolicy Disabled)'
        : `the scale-up policies allow no more for now (selectPolicy ${scaleUp.selectPolicy})`;
    case 'scaleDownPolicy':
      return scaleDown.selectPolicy === 'Disabled'
        ? 'scaling down is disabled (selectPolicy Disabled)'
        : `the scale-down policies allow no fewer for now (selectPolicy ${scaleDown.selectPolicy})`;
    case 'min':
      return bounds.partitions !== undefined && bounds.partitions < spec.minReplicas
        ? `minReplicas is ${spec.minReplicas}, capped by ${bounds.partitions} partitions`
        : `minReplicas is ${spec.minReplicas}`;
    case 'max':
      return `maxReplicas is ${spec.maxReplicas}`;
    case 'partitions':
      return `the topic has ${bounds.upper} partitions, and a replica beyond that would sit idle`;
  }
}

const formatPercent = (fraction: number) => `${Number((fraction * 100).toFixed(1))}%`;

const scalingLimitedReasons: Record<LimitReason, string> = {
  min: 'MinReplicas',
  max: 'MaxReplicas',
  partitions: 'PartitionCount',
  scaleUpPolicy: 'ScaleUpPolicy',
  scaleDownPolicy: 'ScaleDownPolicy',
  stabilization: 'Stabilized',
  tolerance: 'WithinTolerance',
  metricsMissing: 'MetricsMissing',
};

function conditionHints(
  estimate: Estimate,
  metrics: TrustedMetrics,
  limitedBy: LimitReason | undefined,
  outcome: string,
  spec: PolicySpec,
): ConditionHint[] {
  const partitionsNote =
    spec.partitions === undefined && metrics.partitions === undefined
      ? ' Partition count unknown: only maxReplicas caps the replicas.'
      : '';
  const metricsAvailable: ConditionHint =
    estimate.basis === 'throughput'
      ? {
          type: 'MetricsAvailable',
          status: 'True',
          reason: 'MetricsAvailable',
          message: `Arrival rate, backlog and per-replica rate are available.${partitionsNote}`,
        }
      : estimate.basis === 'lagRatio'
        ? {
            type: 'MetricsAvailable',
            status: 'True',
            reason: 'FallbackToLagRatio',
            message: `Missing ${estimate.missing.join(', ')}: scaling on the lag ratio.${partitionsNote}`,
          }
        : {
            type: 'MetricsAvailable',
            status: 'False',
            reason: 'MetricsMissing',
            message: `Missing ${estimate.missing.join(', ')}: holding the replica count.`,
          };

  // Tolerance is a deliberate non-change, not a limit.
  const limited = limitedBy !== undefined && limitedBy !== 'tolerance';
  const scalingLimited: ConditionHint = {
    type: 'ScalingLimited',
    status: limited ? 'True' : 'False',
    reason: limitedBy === undefined ? 'NotLimited' : scalingLimitedReasons[limitedBy],
    message: outcome,
  };

  const lag = metrics.lagSeconds;
  const target = formatSeconds(spec.targetLagSeconds);
  const lagWithinTarget: ConditionHint =
    lag === undefined
      ? { type: 'LagWithinTarget', status: 'Unknown', reason: 'LagUnknown', message: 'Lag is not measured.' }
      : lag <= spec.targetLagSeconds
        ? {
            type: 'LagWithinTarget',
            status: 'True',
            reason: 'LagWithinTarget',
            message: `Lag ${formatSeconds(lag)} is within the ${target} target.`,
          }
        : {
            type: 'LagWithinTarget',
            status: 'False',
            reason: 'LagAboveTarget',
            message: `Lag ${formatSeconds(lag)} is above the ${target} target.`,
          };

  return [metricsAvailable, scalingLimited, lagWithinTarget];
}

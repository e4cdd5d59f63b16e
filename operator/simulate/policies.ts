/**
 * The autoscalers the simulation compares, behind one interface: ours, and two baselines that
 * model public algorithms (KEDA's Kafka scaler under an HPA, and an HPA on lag seconds).
 */
import { limitBySteps, stabilize } from '../src/policy/behavior.js';
import { pruneHistory, recordScaleEvent, startHistory } from '../src/policy/history.js';
import { decide, type MetricsSample, type PolicySpec, type ScalingHistory } from '../src/policy/index.js';

export interface Autoscaler {
  readonly name: string;
  /** The replica count to set at `now` (ms); called once per poll, and the scale always succeeds. */
  decide(now: number, currentReplicas: number, metrics: MetricsSample): number;
}

/** Our policy, driven as the reconciler drives it: history kept, a scale event recorded per scale. */
export function pulseAutoscaler(spec: PolicySpec): Autoscaler {
  let history: ScalingHistory | undefined;
  return {
    name: 'pulse',
    decide(now, currentReplicas, metrics) {
      const decision = decide({ now, currentReplicas, metrics, spec, history });
      history =
        decision.desired === currentReplicas
          ? decision.history
          : recordScaleEvent(decision.history, now, currentReplicas, decision.desired);
      return decision.desired;
    },
  };
}

/**
 * The HPA's replica calculation for a metric with an average-value target: the usage ratio is
 * `total / (targetPerPod × current)`; inside the tolerance nothing changes, else ceil(total /
 * targetPerPod).
 */
export function hpaReplicas(current: number, total: number, targetPerPod: number, tolerance: number): number {
  const ratio = total / (targetPerPod * current);
  return Math.abs(ratio - 1) <= tolerance ? current : Math.ceil(total / targetPerPod);
}

/**
 * KEDA's Kafka scaler: an external metric of the total lag (events) with the average-value target
 * `lagThreshold`, so the HPA asks for ceil(totalLag / lagThreshold). Without allowIdleConsumers it
 * never reports more lag than the partitions can use.
 */
export function kedaRecommendation(
  current: number,
  totalLag: number,
  lagThreshold: number,
  partitions: number,
  tolerance: number,
): number {
  return hpaReplicas(current, Math.min(totalLag, lagThreshold * partitions), lagThreshold, tolerance);
}

/** An HPA on lag seconds with target T: ceil(current × L / T), the ratio L / T inside the tolerance keeping. */
export function lagRatioRecommendation(
  current: number,
  lagSeconds: number,
  targetSeconds: number,
  tolerance: number,
): number {
  return hpaReplicas(current, current * lagSeconds, targetSeconds, tolerance);
}

/**
 * Wraps a recommendation in the HPA's behavior (stabilization windows, step policies, then the
 * min/max bounds), reusing the policy module's implementation of that algorithm. A sample without
 * the metric holds, as the HPA does when a metric is unavailable.
 */
function hpaAutoscaler(
  name: string,
  spec: PolicySpec,
  recommend: (currentReplicas: number, metrics: MetricsSample) => number | undefined,
): Autoscaler {
  let history: ScalingHistory | undefined;
  return {
    name,
    decide(now, currentReplicas, metrics) {
      const previous = pruneHistory(history ?? startHistory(currentReplicas, now), spec.behavior, now);
      const recommendation = recommend(currentReplicas, metrics) ?? currentReplicas;
      const stabilized = stabilize(
        recommendation,
        currentReplicas,
        previous.recommendations,
        spec.behavior,
        now,
      );
      const stepped = limitBySteps(stabilized, currentReplicas, previous.scaleEvents, spec.behavior, now);
      const desired = Math.min(spec.maxReplicas, Math.max(spec.minReplicas, stepped));
      history = {
        recommendations: [...previous.recommendations, { time: now, replicas: recommendation }],
        scaleEvents: previous.scaleEvents,
      };
      if (desired !== currentReplicas) history = recordScaleEvent(history, now, currentReplicas, desired);
      return desired;
    },
  };
}

export function kedaAutoscaler(spec: PolicySpec, lagThreshold: number, partitions: number): Autoscaler {
  return hpaAutoscaler('keda-kafka', spec, (current, { backlog }) =>
    backlog === undefined
      ? undefined
      : kedaRecommendation(current, backlog, lagThreshold, partitions, spec.tolerance),
  );
}

export function lagRatioAutoscaler(spec: PolicySpec): Autoscaler {
  return hpaAutoscaler('hpa-lag-seconds', spec, (current, { lagSeconds }) =>
    lagSeconds === undefined
      ? undefined
      : lagRatioRecommendation(current, lagSeconds, spec.targetLagSeconds, spec.tolerance),
  );
}

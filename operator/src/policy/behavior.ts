/**
 * The HPA-style `behavior` of a ReplicationLag: stabilization windows smooth the recommendation,
 * step policies limit how far one period may move the replica count.
 */
import type { ScalingBehavior, ScalingRules } from '../api/spec.js';
import { withinSeconds } from './history.js';
import type { ScaleEvent, TimedRecommendation } from './types.js';

/**
 * Scale up only as far as every recommendation of the scale-up window agrees (their minimum),
 * scale down only as far as every recommendation of the scale-down window agrees (their maximum);
 * in between, stay. With the default windows (0 s up, 300 s down) a burst is met at once and a
 * lull must last five minutes before replicas go.
 */
export function stabilize(
  recommendation: number,
  currentReplicas: number,
  previous: readonly TimedRecommendation[],
  behavior: ScalingBehavior,
  now: number,
): number {
  const inWindow = (seconds: number) =>
    previous.filter((entry) => withinSeconds(entry.time, now, seconds)).map((entry) => entry.replicas);
  const upTo = Math.min(recommendation, ...inWindow(behavior.scaleUp.stabilizationWindowSeconds));
  const downTo = Math.max(recommendation, ...inWindow(behavior.scaleDown.stabilizationWindowSeconds));
  if (currentReplicas < upTo) return upTo;
  if (currentReplicas > downTo) return downTo;
  return currentReplicas;
}

/**
 * The replica count at the start of the sliding period: the current count minus every change made
 * inside the period. Step policies are relative to it, so that several small steps in one period
 * add up to no more than one big one. Someone else scaling the target in between can make the
 * difference negative, which no count can be.
 */
function replicasAtPeriodStart(
  currentReplicas: number,
  events: readonly ScaleEvent[],
  periodSeconds: number,
  now: number,
): number {
  const changed = events
    .filter((event) => withinSeconds(event.time, now, periodSeconds))
    .reduce((sum, event) => sum + event.change, 0);
  return Math.max(0, currentReplicas - changed);
}

export type Direction = 'up' | 'down';

/**
 * How far the step policies let the count move in one direction now: the most replicas when
 * scaling up (never below the current count), the fewest when scaling down (never above it, nor
 * below 0). A percentage step rounds up when scaling up and down when scaling down, as the HPA's.
 */
export function stepLimit(
  direction: Direction,
  currentReplicas: number,
  rules: ScalingRules,
  events: readonly ScaleEvent[],
  now: number,
): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas;
  const up = direction === 'up';
  const limits = rules.policies.map((policy) => {
    const start = replicasAtPeriodStart(currentReplicas, events, policy.periodSeconds, now);
    // Integer arithmetic: 25 * 1.12 is 28.000000000000004, and ceil would make it 29.
    const percentStep = (start * policy.value) / 100;
    const step =
      policy.type === 'Pods' ? policy.value : up ? Math.ceil(percentStep) : Math.floor(percentStep);
    return up ? start + step : start - step;
  });
  // Max selects the policy allowing the largest change: the highest limit up, the lowest down.
  const highest = up === (rules.selectPolicy === 'Max');
  const limit = highest ? Math.max(...limits) : Math.min(...limits);
  return up ? Math.max(limit, currentReplicas) : Math.max(0, Math.min(limit, currentReplicas));
}

/** Moves from the current count towards `stabilized` no further than the step policies allow. */
export function limitBySteps(
  stabilized: number,
  currentReplicas: number,
  events: readonly ScaleEvent[],
  behavior: ScalingBehavior,
  now: number,
): number {
  if (stabilized > currentReplicas)
    return Math.min(stabilized, stepLimit('up', currentReplicas, behavior.scaleUp, events, now));
  if (stabilized < currentReplicas)
    return Math.max(stabilized, stepLimit('down', currentReplicas, behavior.scaleDown, events, now));
  return currentReplicas;
}

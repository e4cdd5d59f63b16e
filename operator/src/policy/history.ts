/**
 * The memory of the scaling policy: recommendations for the stabilization windows, scale events
 * for the step policies. Pure functions over plain data; times are milliseconds since the epoch.
 */
import type { ScalingBehavior } from '../api/spec.js';
import type { ScalingHistory } from './types.js';

/** Whether `time` falls in the `seconds` before `now`; a time ahead of `now` (clock skew) counts. */
export function withinSeconds(time: number, now: number, seconds: number): boolean {
  return time > now - seconds * 1000;
}

/**
 * The history of a resource seen for the first time, as after a restart or a leader failover: it
 * remembers the current count as a recommendation, so a scale-down waits a full window for
 * evidence instead of acting on the first sample.
 */
export function startHistory(currentReplicas: number, now: number): ScalingHistory {
  return { recommendations: [{ time: now, replicas: currentReplicas }], scaleEvents: [] };
}

/** Drops what no window or period of `behavior` can reach any more. */
export function pruneHistory(
  history: ScalingHistory,
  behavior: ScalingBehavior,
  now: number,
): ScalingHistory {
  const { scaleUp, scaleDown } = behavior;
  const window = Math.max(scaleUp.stabilizationWindowSeconds, scaleDown.stabilizationWindowSeconds);
  const period = Math.max(
    ...[...scaleUp.policies, ...scaleDown.policies].map((policy) => policy.periodSeconds),
  );
  return {
    recommendations: history.recommendations.filter((entry) => withinSeconds(entry.time, now, window)),
    scaleEvents: history.scaleEvents.filter((event) => withinSeconds(event.time, now, period)),
  };
}

/** Call once the target's replica count has actually changed from `from` to `to`. */
export function recordScaleEvent(
  history: ScalingHistory,
  now: number,
  from: number,
  to: number,
): ScalingHistory {
  return { ...history, scaleEvents: [...history.scaleEvents, { time: now, change: to - from }] };
}

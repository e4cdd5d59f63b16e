/**
 * What the controller needs from wherever the lag metrics live, KEDA-scaler style: one small module
 * per metric source behind this interface, so that a second source (say, the replicator's own
 * HTTP endpoint) can be added without touching the controller.
 */
import type { StageStatus } from '../api/types.js';
import type { MetricsSample } from '../policy/types.js';

/** One poll's readings. A value that could not be measured is undefined, never 0. */
export interface Measurements {
  /** The policy's inputs (the projection stage, which the replicator's replicas work on). */
  sample: MetricsSample;
  /** Lag and backlog of every stage, for the status; a stage without any reading is left out. */
  stages: StageStatus[];
  /** Why an input is missing, per input that failed (for the log; the policy names what is missing). */
  failures: { input: string; message: string }[];
}

export interface MetricSource {
  measure(signal: AbortSignal): Promise<Measurements>;
}

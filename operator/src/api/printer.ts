/**
 * The status fields behind `kubectl get rlag`'s columns. kubectl prints a number column as the raw
 * value, so the lags are stored as short strings (`0.4s`) and the rate rounded; the exact values
 * stay in `stages` and in Prometheus.
 */
import type { ReplicationLagSpec } from './spec.js';
import type { ReplicationLagStatus, StageStatus } from './types.js';

/** A duration as kubectl shows ages: `0.4s`, `12s`, `3m20s`, `5h7m`. Expects seconds >= 0. */
export function formatSeconds(seconds: number): string {
  // Sub-10 s lags are the normal case, and their tenths are what a person compares.
  if (seconds < 10) return `${Number(seconds.toFixed(1))}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${whole % 60}s`;
  return `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

/** Three significant digits below 100, whole numbers above: enough for rates, lags and sentences. */
export function roundForDisplay(value: number): number {
  return value >= 100 ? Math.round(value) : Number(value.toPrecision(3));
}

/**
 * Every key is present; an unknown value is `undefined`, so that the controller can clear a stale
 * column (a merge patch needs an explicit null for that) instead of leaving an old value up.
 */
export type PrinterFields = {
  [K in 'target' | 'lag' | 'backlog' | 'replicaLag' | 'arrivalRate']-?: ReplicationLagStatus[K];
};

/**
 * The printer-column fields of the status. The user-facing lag and backlog are those of relay and
 * projection together (commit to visible in the read API); when either stage is unknown the sum
 * is unknown too rather than understated.
 */
export function printerFields(
  scaleTargetRef: ReplicationLagSpec['scaleTargetRef'],
  stages: readonly StageStatus[],
  arrivalRate: number | undefined,
): PrinterFields {
  const stage = (name: StageStatus['name']) => stages.find((candidate) => candidate.name === name);
  const relay = stage('relay');
  const projection = stage('projection');
  const replicaLagSeconds = stage('replica')?.lagSeconds;
  const lagSeconds = sumIfKnown(relay?.lagSeconds, projection?.lagSeconds);
  return {
    // `deploy/` is kubectl's own abbreviation, and Deployment is the only kind the CRD accepts.
    target: `deploy/${scaleTargetRef.name}`,
    lag: lagSeconds === undefined ? undefined : formatSeconds(lagSeconds),
    backlog: sumIfKnown(relay?.backlog, projection?.backlog),
    replicaLag: replicaLagSeconds === undefined ? undefined : formatSeconds(replicaLagSeconds),
    arrivalRate: arrivalRate === undefined ? undefined : roundForDisplay(arrivalRate),
  };
}

function sumIfKnown(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a + b;
}

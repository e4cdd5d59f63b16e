/**
 * The first step of a decision: how many replicas the measurements ask for, before any smoothing
 * or limit. Prefers the throughput model, falls back to the lag ratio, and holds when neither can
 * be computed.
 */
import { formatSeconds, roundForDisplay } from '../api/printer.js';
import { replicasText } from './text.js';
import type { MetricsSample } from './types.js';

/** A sample reduced to the values that can be measurements; the rest are undefined. */
export interface TrustedMetrics {
  arrivalRate?: number;
  backlog?: number;
  perReplicaRate?: number;
  lagSeconds?: number;
  partitions?: number;
}

const isAmount = (value: number | undefined): value is number =>
  value !== undefined && Number.isFinite(value) && value >= 0;

/**
 * A negative rate (a counter reset inside the rate window), NaN (0/0 of an idle window) or a zero
 * per-replica rate would make the formula answer nonsense rather than fail, so they count as
 * missing.
 */
export function trustMetrics(sample: MetricsSample): TrustedMetrics {
  const { arrivalRate, backlog, perReplicaRate, lagSeconds, partitions } = sample;
  return {
    ...(isAmount(arrivalRate) ? { arrivalRate } : {}),
    ...(isAmount(backlog) ? { backlog } : {}),
    ...(isAmount(perReplicaRate) && perReplicaRate > 0 ? { perReplicaRate } : {}),
    ...(isAmount(lagSeconds) ? { lagSeconds } : {}),
    ...(partitions !== undefined && Number.isSafeInteger(partitions) && partitions >= 1
      ? { partitions }
      : {}),
  };
}

export type Estimate =
  | { basis: 'throughput' | 'lagRatio'; replicas: number; explanation: string; missing: string[] }
  | { basis: 'hold'; explanation: string; missing: string[] };

/**
 * Rounds up, forgiving the floating-point noise of a division that is mathematically whole:
 * (0.1 + 0.2) / 0.1 is 3.0000000000000004 and must ask for 3 replicas, not 4.
 */
function replicasFor(exact: number): number {
  return Math.max(0, Math.ceil(exact - 1e-9));
}

export function estimateReplicas(
  metrics: TrustedMetrics,
  currentReplicas: number,
  targetLagSeconds: number,
): Estimate {
  const { arrivalRate, backlog, perReplicaRate, lagSeconds } = metrics;
  const missing = (['arrivalRate', 'backlog', 'perReplicaRate'] as const).filter(
    (name) => metrics[name] === undefined,
  );
  const target = formatSeconds(targetLagSeconds);

  if (arrivalRate !== undefined && backlog !== undefined && perReplicaRate !== undefined) {
    // Keep up with what arrives and, on top, drain what waits within the target time.
    const needed = arrivalRate + backlog / targetLagSeconds;
    const replicas = replicasFor(needed / perReplicaRate);
    return {
      basis: 'throughput',
      replicas,
      missing,
      explanation:
        `Arrival ${roundForDisplay(arrivalRate)}/s plus a backlog of ${roundForDisplay(backlog)} drained ` +
        `within ${target} needs ${roundForDisplay(needed)}/s; at ${roundForDisplay(perReplicaRate)}/s per ` +
        `replica that is ${replicasText(replicas)}.`,
    };
  }

  if (lagSeconds !== undefined) {
    // Without a capacity figure, assume lag shrinks in proportion to the replicas added.
    const replicas = replicasFor((currentReplicas * lagSeconds) / targetLagSeconds);
    return {
      basis: 'lagRatio',
      replicas,
      missing,
      explanation:
        `Without ${missing.join(', ')} the lag ratio decides: lag ${formatSeconds(lagSeconds)} against the ` +
        `${target} target scales ${replicasText(currentReplicas)} to ${replicasText(replicas)}.`,
    };
  }

  const allMissing = [...missing, 'lagSeconds'];
  return {
    basis: 'hold',
    missing: allMissing,
    explanation: `Metrics missing (${allMissing.join(', ')}): holding rather than scaling blind.`,
  };
}

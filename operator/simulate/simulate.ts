/**
 * One run: a trace through the cluster model, an autoscaler deciding at every poll on what the
 * operator would measure, and the figures the report compares.
 */
import type { MetricsSample } from '../src/policy/index.js';
import { Cluster, type ModelParams, type Second } from './model.js';
import type { Autoscaler } from './policies.js';
import { seededRandom, streamSeed } from './random.js';

export interface RunOptions {
  model: ModelParams;
  /** Mean arrival rate per second; its length is the run's duration. */
  rates: readonly number[];
  autoscaler: Autoscaler;
  pollSeconds: number;
  targetLagSeconds: number;
  /** The operator's rate window (its queries use rate(...[1m])). */
  rateWindowSeconds: number;
  seed: number;
}

/** One poll: what the autoscaler saw and what it set. */
export interface Poll {
  t: number;
  metrics: MetricsSample;
  replicas: number;
  desired: number;
}

export interface RunStats {
  secondsOverTarget: number;
  p99LagSeconds: number;
  maxLagSeconds: number;
  replicaSeconds: number;
  scaleEvents: number;
  /** Scale events whose direction differs from the previous one's. */
  reversals: number;
  rebalances: number;
  peakReplicas: number;
  arrived: number;
  applied: number;
  finalBacklog: number;
}

export interface RunResult {
  stats: RunStats;
  polls: Poll[];
  seconds: Second[];
}

export function runSimulation(options: RunOptions): RunResult {
  const { model, rates, autoscaler, pollSeconds, rateWindowSeconds, seed } = options;
  // Arrivals draw from their own stream, so every autoscaler faces exactly the same events.
  const cluster = new Cluster(
    model,
    seededRandom(streamSeed(seed, 'arrivals')),
    seededRandom(streamSeed(seed, 'service')),
  );
  const seconds: Second[] = [];
  const polls: Poll[] = [];
  rates.forEach((rate, t) => {
    seconds.push(cluster.step(t, rate));
    const now = t + 1;
    if (now % pollSeconds !== 0) return;
    const metrics = measure(seconds.slice(-rateWindowSeconds), model.partitions);
    const replicas = cluster.replicas;
    const desired = autoscaler.decide(now * 1000, replicas, metrics);
    polls.push({ t: now, metrics, replicas, desired });
    if (desired !== replicas) cluster.scaleTo(desired, now);
  });
  return {
    stats: summarize(seconds, polls, options.targetLagSeconds, cluster),
    polls,
    seconds,
  };
}

/**
 * What the operator's Prometheus queries return: λ and μ as rates over the window (μ as applied
 * events per busy second, like applied_total / apply_duration_seconds_sum), B and L as they are
 * at the poll. μ is missing when nothing was applied, as 0/0 is in PromQL.
 */
export function measure(window: readonly Second[], partitions: number): MetricsSample {
  const last = window.at(-1);
  const sum = (field: 'arrived' | 'applied' | 'busySeconds') =>
    window.reduce((total, second) => total + second[field], 0);
  const busy = sum('busySeconds');
  return {
    arrivalRate: sum('arrived') / window.length,
    backlog: last?.backlog,
    perReplicaRate: busy > 0 ? sum('applied') / busy : undefined,
    lagSeconds: last?.lagSeconds,
    partitions,
  };
}

/** The p-th percentile by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Counts the changes of direction in a sequence of scale steps. */
export function reversals(changes: readonly number[]): number {
  return changes.filter(
    (change, index) => index > 0 && Math.sign(change) !== Math.sign(changes[index - 1] ?? 0),
  ).length;
}

function summarize(seconds: Second[], polls: Poll[], target: number, cluster: Cluster): RunStats {
  const lags = seconds.map((second) => second.lagSeconds);
  const changes = polls
    .filter((poll) => poll.desired !== poll.replicas)
    .map((poll) => poll.desired - poll.replicas);
  const rebalances = seconds.filter(
    (second, index) => index > 0 && second.readyPods !== (seconds[index - 1]?.readyPods ?? second.readyPods),
  ).length;
  return {
    secondsOverTarget: lags.filter((lag) => lag > target).length,
    p99LagSeconds: percentile(lags, 99),
    maxLagSeconds: Math.max(0, ...lags),
    replicaSeconds: seconds.reduce((sum, second) => sum + second.pods, 0),
    scaleEvents: changes.length,
    reversals: reversals(changes),
    rebalances,
    peakReplicas: Math.max(0, ...seconds.map((second) => second.pods)),
    arrived: cluster.arrived,
    applied: cluster.applied,
    finalBacklog: cluster.backlog,
  };
}

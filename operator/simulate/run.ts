/**
 * `make simulate`: runs every trace under every autoscaler and writes
 * docs/benchmarks/<date>-scaling-simulation.md and .json.
 *
 *   node --import tsx operator/simulate/run.ts [--seed 1] [--seeds 20] [--out docs/benchmarks]
 *
 * `--seed` is the run the tables show in full; `--seeds` more seeds (1..N) check that the verdict
 * is not an accident of one seed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parseReplicationLagSpec } from '../src/api/spec.js';
import type { ModelParams } from './model.js';
import { kedaAutoscaler, lagRatioAutoscaler, pulseAutoscaler, type Autoscaler } from './policies.js';
import { seededRandom, streamSeed } from './random.js';
import { runSimulation, type RunResult, type RunStats } from './simulate.js';
import { standardTraces, type Trace } from './traces.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');

const MODEL: ModelParams = {
  partitions: 12,
  replicaRate: 500,
  replicaRateNoise: 0.15,
  podStartSeconds: 20,
  rebalancePauseSeconds: 6,
  initialReplicas: 2,
};
const BASE_RATE = 800;
const POLL_SECONDS = 15;
const RATE_WINDOW_SECONDS = 60;

const parsed = parseReplicationLagSpec({
  scaleTargetRef: { name: 'replicator' },
  prometheus: { address: 'http://prometheus:9090' },
  maxReplicas: MODEL.partitions,
  pollIntervalSeconds: POLL_SECONDS,
});
if (!parsed.ok) throw new Error(parsed.error);
// Every default (T = 10 s, tolerance 0.1, the HPA's behavior) is the CRD's, for all three.
const spec = parsed.spec;
// What someone tuning KEDA for this target would choose: the lag one replica drains within T.
const LAG_THRESHOLD = MODEL.replicaRate * spec.targetLagSeconds;

const AUTOSCALERS: (() => Autoscaler)[] = [
  () => pulseAutoscaler(spec),
  () => kedaAutoscaler(spec, LAG_THRESHOLD, MODEL.partitions),
  () => lagRatioAutoscaler(spec),
];

function simulate(trace: Trace, newAutoscaler: () => Autoscaler, seed: number): RunResult {
  return runSimulation({
    model: MODEL,
    rates: trace.rates(seededRandom(streamSeed(seed, trace.name))),
    autoscaler: newAutoscaler(),
    pollSeconds: POLL_SECONDS,
    targetLagSeconds: spec.targetLagSeconds,
    rateWindowSeconds: RATE_WINDOW_SECONDS,
    seed,
  });
}

interface Verdict {
  lessTimeOverTarget: boolean;
  noMoreReplicaSecondsThanKeda: boolean;
  fewerScaleEvents: boolean;
  met: boolean;
}

/** The goal: less time over target than both, no more replica-seconds than KEDA, fewer scale events than both. */
function verdict(stats: Record<string, RunStats>): Verdict {
  const [ours, keda, hpa] = ['pulse', 'keda-kafka', 'hpa-lag-seconds'].map((name) => {
    const found = stats[name];
    if (found === undefined) throw new Error(`no run of ${name}`);
    return found;
  }) as [RunStats, RunStats, RunStats];
  const lessTimeOverTarget =
    ours.secondsOverTarget < keda.secondsOverTarget && ours.secondsOverTarget < hpa.secondsOverTarget;
  const noMoreReplicaSecondsThanKeda = ours.replicaSeconds <= keda.replicaSeconds;
  const fewerScaleEvents = ours.scaleEvents < keda.scaleEvents && ours.scaleEvents < hpa.scaleEvents;
  return {
    lessTimeOverTarget,
    noMoreReplicaSecondsThanKeda,
    fewerScaleEvents,
    met: lessTimeOverTarget && noMoreReplicaSecondsThanKeda && fewerScaleEvents,
  };
}

function machine() {
  return {
    cores: cpus().length,
    cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
    mem_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

function commit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot }).toString().trim();
  return `${git('rev-parse', '--short=12', 'HEAD')}${git('status', '--porcelain') === '' ? '' : '-dirty'}`;
}

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    seeds: { type: 'string', default: '20' },
    out: { type: 'string', default: join(repoRoot, 'docs/benchmarks') },
  },
});
const seed = Number(values.seed);
const seedCount = Number(values.seeds);
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(seedCount) || seedCount < 1)
  throw new Error('--seed and --seeds must be integers, --seeds at least 1');

const started = new Date();
const wallStart = performance.now();
const traces = standardTraces(BASE_RATE);

const main = traces.map((trace) => {
  const runs = AUTOSCALERS.map((newAutoscaler) => {
    const result = simulate(trace, newAutoscaler, seed);
    return { autoscaler: newAutoscaler().name, result };
  });
  const stats = Object.fromEntries(runs.map((run) => [run.autoscaler, run.result.stats]));
  return { trace, runs, stats, verdict: verdict(stats) };
});

const seedsChecked = Array.from({ length: seedCount }, (_, index) => index + 1);
const robustness = traces.map((trace) => {
  const verdicts = seedsChecked.map((checked) =>
    verdict(
      Object.fromEntries(
        AUTOSCALERS.map((newAutoscaler) => [
          newAutoscaler().name,
          simulate(trace, newAutoscaler, checked).stats,
        ]),
      ),
    ),
  );
  const count = (key: keyof Verdict) => verdicts.filter((entry) => entry[key]).length;
  return {
    trace: trace.name,
    seeds: seedCount,
    met: count('met'),
    lessTimeOverTarget: count('lessTimeOverTarget'),
    noMoreReplicaSecondsThanKeda: count('noMoreReplicaSecondsThanKeda'),
    fewerScaleEvents: count('fewerScaleEvents'),
  };
});
const wallSeconds = (performance.now() - wallStart) / 1000;

const date = started.toISOString().slice(0, 10);
const name = `${date}-scaling-simulation`;
const parameters = {
  model: MODEL,
  baseRate: BASE_RATE,
  pollSeconds: POLL_SECONDS,
  rateWindowSeconds: RATE_WINDOW_SECONDS,
  targetLagSeconds: spec.targetLagSeconds,
  tolerance: spec.tolerance,
  minReplicas: spec.minReplicas,
  maxReplicas: spec.maxReplicas,
  behavior: spec.behavior,
  kedaLagThreshold: LAG_THRESHOLD,
};
const raw = {
  date: started.toISOString(),
  commit: commit(),
  machine: machine(),
  wallSeconds,
  seed,
  parameters,
  traces: main.map(({ trace, runs, verdict: traceVerdict }) => ({
    name: trace.name,
    description: trace.description,
    verdict: traceVerdict,
    runs: runs.map(({ autoscaler, result }) => ({
      autoscaler,
      stats: result.stats,
      // Per poll rather than per second: what each autoscaler saw and did, at a readable size.
      polls: {
        columns: ['t', 'arrivalRate', 'backlog', 'perReplicaRate', 'lagSeconds', 'replicas', 'desired'],
        rows: result.polls.map(({ t, metrics, replicas, desired }) => [
          t,
          round(metrics.arrivalRate),
          metrics.backlog ?? null,
          round(metrics.perReplicaRate),
          metrics.lagSeconds ?? null,
          replicas,
          desired,
        ]),
      },
    })),
  })),
  robustness,
};

function round(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value * 10) / 10;
}

const yesNo = (value: boolean) => (value ? 'yes' : '**no**');
const thousands = (value: number) => value.toLocaleString('en-US');
const m = raw.machine;

const markdown = [
  `# Scaling simulation ${date}`,
  '',
  `Commit \`${raw.commit}\`, started ${raw.date}. Raw results (every run's figures and its per-poll series): [${name}.json](${name}.json).`,
  `Produced by \`make simulate\` (\`node --import tsx operator/simulate/run.ts --seed ${seed} --seeds ${seedCount}\`).`,
  '',
  `**Machine:** ${m.cores} cores (${m.cpu_model}), ${m.mem_gib} GiB, Node ${m.node}; the whole run took ${wallSeconds.toFixed(1)} s.`,
  'The figures below are simulated seconds, not measurements of a cluster: the machine only decides how long',
  'the run takes, never a figure.',
  '',
  '## The model',
  '',
  `- ${MODEL.partitions} partitions; ${MODEL.initialReplicas} replicas at the start, bounds ${spec.minReplicas}–${spec.maxReplicas} (= partitions).`,
  `- A busy replica applies ${MODEL.replicaRate} events/s on average, ±${MODEL.replicaRateNoise * 100} % (1σ) per second, over its own partitions only`,
  '  (round-robin assignment, so 5 replicas on 12 partitions leave two of them with 3 partitions).',
  '- Arrivals spread evenly over the partitions with Poisson-like noise; FIFO per partition; lag is the age of',
  '  the oldest waiting event over all partitions, the figure `pulse_projection_current_lag_seconds` reports.',
  `- A new pod consumes ${MODEL.podStartSeconds} s after the scale; every change of the ready set (a pod ready, a ready pod`,
  `  removed) stops every consumer for ${MODEL.rebalancePauseSeconds} s (kafkajs eager rebalancing). A scale-down removes not-ready pods first.`,
  `- Every autoscaler decides every ${POLL_SECONDS} s on what the operator's queries would return: λ and μ over the last`,
  `  ${RATE_WINDOW_SECONDS} s (μ = applied / busy seconds), backlog and lag at the poll; replica-seconds count starting pods too.`,
  '- Autoscalers, all with the CRD defaults (T = 10 s, tolerance 0.1, the HPA default behavior: up max(+100 %, +4 pods)',
  '  per 15 s without a window, down 100 % per 15 s after a 300 s window):',
  '  - **pulse**: `decide()` of `operator/src/policy`, driven like the reconciler (history kept, scale events recorded);',
  `  - **keda-kafka**: ceil(totalLag / lagThreshold) with lagThreshold = ${thousands(LAG_THRESHOLD)} (what one replica drains in T),`,
  '    total lag capped at lagThreshold × partitions, the HPA tolerance on the usage ratio;',
  '  - **hpa-lag-seconds**: ceil(current × L / T), no change while |L / T − 1| ≤ 0.1.',
  `- Seed ${seed}; arrivals come from their own random stream, so all three autoscalers face the same events.`,
  '',
  '## Results',
  '',
  ...main.flatMap(({ trace, runs, verdict: traceVerdict }) => [
    `### ${trace.name}: ${trace.description}`,
    '',
    '| autoscaler | s over target | p99 lag (s) | max lag (s) | replica-s | scale events | reversals | rebalances | peak replicas |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...runs.map(
      ({ autoscaler, result: { stats } }) =>
        `| ${autoscaler} | ${stats.secondsOverTarget} | ${stats.p99LagSeconds} | ${stats.maxLagSeconds} | ${thousands(stats.replicaSeconds)} | ${stats.scaleEvents} | ${stats.reversals} | ${stats.rebalances} | ${stats.peakReplicas} |`,
    ),
    '',
    `Goal: less time over target than both ${yesNo(traceVerdict.lessTimeOverTarget)}; no more replica-seconds than keda-kafka ${yesNo(traceVerdict.noMoreReplicaSecondsThanKeda)}; fewer scale events than both ${yesNo(traceVerdict.fewerScaleEvents)}. **${traceVerdict.met ? 'Met' : 'Not met'}.**`,
    '',
  ]),
  `## Across seeds 1–${seedCount}`,
  '',
  'How many seeds meet each part of the goal (same model and parameters, other random draws):',
  '',
  '| trace | whole goal | less time over target | replica-s ≤ keda-kafka | fewer scale events |',
  '| --- | --- | --- | --- | --- |',
  ...robustness.map(
    (row) =>
      `| ${row.trace} | ${row.met}/${row.seeds} | ${row.lessTimeOverTarget}/${row.seeds} | ${row.noMoreReplicaSecondsThanKeda}/${row.seeds} | ${row.fewerScaleEvents}/${row.seeds} |`,
  ),
  '',
  '## What this does not show',
  '',
  '- It is a model: its pod start delay, rebalance pause and throughput noise are chosen, not measured on a',
  '  cluster. Other values change the numbers; the parameters are in the JSON and at the top of `run.ts`.',
  '- No Prometheus scrape interval or metric staleness, no HPA metric-server lag, no crashes, no per-event cost',
  "  differences, no broker limits; KEDA's own polling interval is taken to be the HPA's 15 s sync.",
  '',
].join('\n');

mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, `${name}.json`), `${JSON.stringify(raw, null, 2)}\n`);
writeFileSync(join(values.out, `${name}.md`), markdown);
process.stdout.write(`${markdown}\nwrote ${join(values.out, name)}.{md,json}\n`);

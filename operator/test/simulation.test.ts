/** The scaling simulation: the model's bookkeeping, reproducibility, and the baselines' math. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Cluster, type ModelParams, type Second } from '../simulate/model.js';
import {
  hpaReplicas,
  kedaAutoscaler,
  kedaRecommendation,
  lagRatioAutoscaler,
  lagRatioRecommendation,
  pulseAutoscaler,
} from '../simulate/policies.js';
import { seededRandom } from '../simulate/random.js';
import { measure, percentile, reversals, runSimulation } from '../simulate/simulate.js';
import { standardTraces } from '../simulate/traces.js';
import { at, specWith } from './support.js';

const MODEL: ModelParams = {
  partitions: 6,
  replicaRate: 100,
  replicaRateNoise: 0.2,
  podStartSeconds: 5,
  rebalancePauseSeconds: 3,
  initialReplicas: 2,
};

const newCluster = (params: ModelParams = MODEL, seed = 7) =>
  new Cluster(params, seededRandom(seed), seededRandom(seed + 1));

const second = (fields: Partial<Second>): Second => ({
  arrived: 0,
  applied: 0,
  busySeconds: 0,
  lagSeconds: 0,
  backlog: 0,
  pods: 1,
  readyPods: 1,
  ...fields,
});

describe('the cluster model', () => {
  it('conserves events: arrived = applied + backlog after every second, through scales and rebalances', () => {
    const cluster = newCluster();
    const random = seededRandom(3);
    for (let t = 0; t < 600; t++) {
      const { arrived, applied, backlog } = cluster.step(t, 50 + 400 * random.uniform());
      assert.ok(arrived >= 0 && applied >= 0);
      assert.equal(cluster.arrived, cluster.applied + backlog, `at ${t}`);
      if (t % 20 === 19) cluster.scaleTo(1 + Math.floor(random.uniform() * MODEL.partitions), t + 1);
    }
    assert.ok(cluster.applied > 0);
  });

  it('lets a new pod consume only after its start delay and stops everyone for the rebalance pause', () => {
    const cluster = newCluster({ ...MODEL, replicaRateNoise: 0, initialReplicas: 1 });
    cluster.step(0, 0);
    cluster.scaleTo(2, 1);
    assert.equal(cluster.replicas, 2);
    const readyPods = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((t) => cluster.step(t, 600));
    // Ready from 1 + 5 = 6; seconds 6, 7 and 8 are the pause.
    assert.deepEqual(
      readyPods.map((s) => s.readyPods),
      [1, 1, 1, 1, 1, 2, 2, 2, 2],
    );
    assert.deepEqual(
      readyPods.map((s) => s.applied),
      [100, 100, 100, 100, 100, 0, 0, 0, 200],
    );
  });

  it('removes a pod that is not ready yet without a rebalance', () => {
    const cluster = newCluster({ ...MODEL, replicaRateNoise: 0, initialReplicas: 1 });
    cluster.scaleTo(2, 0);
    cluster.scaleTo(1, 1);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((t) => cluster.step(t, 600).applied),
      [100, 100, 100, 100, 100, 100, 100],
    );
  });

  it('leaves a pod with more partitions behind: lag grows although total capacity suffices', () => {
    // 4 pods (400/s) for 360/s on 6 partitions: two pods own 2 partitions, 120/s for 100/s of
    // capacity, so their partitions fall behind by a sixth of the elapsed time.
    const cluster = newCluster({ ...MODEL, replicaRateNoise: 0, initialReplicas: 4 });
    let last = cluster.step(0, 360);
    for (let t = 1; t < 120; t++) last = cluster.step(t, 360);
    assert.ok(last.lagSeconds > 10, `lag ${last.lagSeconds}`);
  });
});

describe('a simulation run', () => {
  const trace = standardTraces(200).find((candidate) => candidate.name === 'step-x5');
  if (trace === undefined) throw new Error('no step-x5 trace');
  const run = (seed: number) =>
    runSimulation({
      model: MODEL,
      rates: trace.rates(seededRandom(seed)).slice(0, 600),
      autoscaler: pulseAutoscaler(specWith({ maxReplicas: 6 })),
      pollSeconds: 15,
      targetLagSeconds: 10,
      rateWindowSeconds: 60,
      seed,
    });

  it('is deterministic for a seed', () => {
    assert.deepEqual(run(42), run(42));
  });

  it('differs with another seed', () => {
    assert.notDeepEqual(run(42).seconds, run(43).seconds);
  });

  it('accounts for every event and decides once per poll', () => {
    const { stats, polls } = run(1);
    assert.equal(stats.arrived, stats.applied + stats.finalBacklog);
    assert.equal(polls.length, 600 / 15);
    assert.ok(stats.scaleEvents > 0);
  });
});

describe('what the operator measures', () => {
  it('averages λ over the window, takes μ per busy second, B and L at the end', () => {
    const window = [
      second({ arrived: 100, applied: 50, busySeconds: 0.5, backlog: 50, lagSeconds: 1 }),
      second({ arrived: 300, applied: 100, busySeconds: 0.5, backlog: 250, lagSeconds: 2 }),
    ];
    assert.deepEqual(measure(window, 12), {
      arrivalRate: 200,
      backlog: 250,
      perReplicaRate: 150,
      lagSeconds: 2,
      partitions: 12,
    });
  });

  it('has no μ when nothing was applied, as 0/0 in PromQL', () => {
    assert.equal(measure([second({ arrived: 10 })], 12).perReplicaRate, undefined);
  });
});

describe('the report figures', () => {
  it('takes the 99th percentile by nearest rank', () => {
    const values = Array.from({ length: 200 }, (_, index) => index + 1);
    assert.equal(percentile(values, 99), 198);
    assert.equal(percentile([5], 99), 5);
  });

  it('counts changes of direction between scale steps', () => {
    assert.equal(reversals([4, 2, -3, 1, -1, -1]), 3);
    assert.equal(reversals([]), 0);
  });
});

describe('the KEDA-style Kafka baseline', () => {
  it('asks for ceil(totalLag / lagThreshold)', () => {
    assert.equal(kedaRecommendation(2, 30_000, 5_000, 12, 0.1), 6);
    assert.equal(kedaRecommendation(2, 30_001, 5_000, 12, 0.1), 7);
    assert.equal(kedaRecommendation(3, 0, 5_000, 12, 0.1), 0);
  });

  it('keeps the count while the usage ratio is within the tolerance', () => {
    // 31,000 / (5,000 × 6) = 1.033.
    assert.equal(kedaRecommendation(6, 31_000, 5_000, 12, 0.1), 6);
    assert.equal(kedaRecommendation(6, 33_500, 5_000, 12, 0.1), 7);
  });

  it('never reports more lag than the partitions can use', () => {
    assert.equal(kedaRecommendation(2, 1_000_000, 5_000, 12, 0.1), 12);
  });

  it('steps up by max(+100 %, +4) per 15 s and waits 300 s before it scales down, clamped to minReplicas', () => {
    const keda = kedaAutoscaler(specWith({ maxReplicas: 12 }), 5_000, 12);
    const lag = (backlog: number) => ({ backlog });
    assert.equal(keda.decide(at(0), 2, lag(100_000)), 6);
    assert.equal(keda.decide(at(15), 6, lag(100_000)), 12);
    assert.equal(keda.decide(at(30), 12, lag(0)), 12);
    assert.equal(keda.decide(at(314), 12, lag(0)), 12);
    assert.equal(keda.decide(at(330), 12, lag(0)), 1);
  });

  it('holds without the metric', () => {
    assert.equal(kedaAutoscaler(specWith(), 5_000, 12).decide(at(0), 4, {}), 4);
  });
});

describe('the HPA ratio on lag seconds', () => {
  it('asks for ceil(current × L / T)', () => {
    assert.equal(lagRatioRecommendation(2, 25, 10, 0.1), 5);
    assert.equal(lagRatioRecommendation(10, 11.5, 10, 0.1), 12);
    assert.equal(lagRatioRecommendation(4, 0, 10, 0.1), 0);
  });

  it('keeps the count while L / T is within the tolerance', () => {
    assert.equal(lagRatioRecommendation(10, 10.5, 10, 0.1), 10);
    assert.equal(lagRatioRecommendation(3, 9, 10, 0.1), 3);
  });

  it('goes through the same behavior as the KEDA baseline', () => {
    const hpa = lagRatioAutoscaler(specWith({ maxReplicas: 12 }));
    assert.equal(hpa.decide(at(0), 2, { lagSeconds: 100 }), 6);
    assert.equal(hpa.decide(at(15), 6, { lagSeconds: 0 }), 6);
  });

  it('shares the HPA calculation: an average-value target is the ratio of total to target per pod', () => {
    assert.equal(hpaReplicas(4, 4 * 12, 10, 0.1), 5);
  });
});

describe('our policy in the simulation', () => {
  it('is decide() with its history: the worked example of docs/scaling-policy.md', () => {
    const pulse = pulseAutoscaler(specWith({ maxReplicas: 12, partitions: 12 }));
    const sample = (backlog: number) => ({ arrivalRate: 4000, backlog, perReplicaRate: 500 });
    assert.equal(pulse.decide(at(0), 2, { arrivalRate: 800, backlog: 0, perReplicaRate: 500 }), 2);
    // Two steps within one 15 s period would be limited together; the recorded event makes the second wait.
    assert.equal(pulse.decide(at(15), 2, sample(30_000)), 6);
    assert.equal(pulse.decide(at(30), 6, sample(45_000)), 12);
    assert.equal(pulse.decide(at(45), 12, sample(20_000)), 12);
    assert.equal(pulse.decide(at(60), 12, sample(0)), 12);
  });
});

describe('the arrival traces', () => {
  it('are the four of the issue, reproducible from a seed', () => {
    const traces = standardTraces(800);
    assert.deepEqual(
      traces.map((trace) => trace.name),
      ['step-x5', 'spike', 'diurnal', 'noisy-ramp'],
    );
    for (const trace of traces) {
      assert.deepEqual(trace.rates(seededRandom(9)), trace.rates(seededRandom(9)));
      assert.ok(trace.rates(seededRandom(9)).every((rate) => rate >= 0));
    }
    const step = traces[0]?.rates(seededRandom(1)) ?? [];
    assert.deepEqual([step[119], step[120], step[1199], step[1200]], [800, 4000, 4000, 800]);
  });
});

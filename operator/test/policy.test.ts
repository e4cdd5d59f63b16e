/** Concrete scenarios of the scaling policy, each with the numbers worked out by hand. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ReplicationLagSpecInput } from '../src/api/spec.js';
import { stabilize, stepLimit } from '../src/policy/behavior.js';
import { decide } from '../src/policy/decide.js';
import { estimateReplicas, trustMetrics } from '../src/policy/estimate.js';
import { recordScaleEvent } from '../src/policy/history.js';
import type { Decision, MetricsSample, ScalingHistory } from '../src/policy/types.js';
import { at, NOW, specWith } from './support.js';

/** One decision at `seconds` after NOW; the defaults are those of a freshly applied resource. */
function decideAt(
  seconds: number,
  currentReplicas: number,
  metrics: MetricsSample,
  options: { spec?: Partial<ReplicationLagSpecInput>; history?: ScalingHistory } = {},
): Decision {
  return decide({
    now: at(seconds),
    currentReplicas,
    metrics,
    spec: specWith(options.spec),
    history: options.history,
  });
}

/** A history in which every poll of the last `seconds` recommended `replicas`. */
function steadyHistory(replicas: number, seconds: number): ScalingHistory {
  const recommendations = [];
  for (let ago = seconds; ago > 0; ago -= 15) recommendations.push({ time: at(-ago), replicas });
  return { recommendations, scaleEvents: [] };
}

const condition = (decision: Decision, type: Decision['conditions'][number]['type']) =>
  decision.conditions.find((hint) => hint.type === type);

describe('the throughput estimate', () => {
  it('is ceil((λ + B/T) / μ): the design brief sample keeps 3 replicas', () => {
    const decision = decideAt(0, 3, { arrivalRate: 950, backlog: 120, perReplicaRate: 400, lagSeconds: 0.4 });
    // (950 + 120/10) / 400 = 2.405 -> 3
    assert.equal(decision.recommendation, 3);
    assert.equal(decision.desired, 3);
    assert.equal(decision.basis, 'throughput');
    assert.equal(decision.limitedBy, undefined);
    assert.equal(
      decision.reason,
      'Arrival 950/s plus a backlog of 120 drained within 10s needs 962/s; at 400/s per replica that is 3 replicas. ' +
        'Keeping 3 replicas.',
    );
    assert.equal(condition(decision, 'LagWithinTarget')?.status, 'True');
    assert.equal(condition(decision, 'ScalingLimited')?.status, 'False');
  });

  it('does not round floating-point noise up into an extra replica', () => {
    // (0.1 + 2/10) / 0.1 is 3.0000000000000004 in floating point.
    const estimate = estimateReplicas(
      trustMetrics({ arrivalRate: 0.1, backlog: 2, perReplicaRate: 0.1 }),
      1,
      10,
    );
    assert.equal(estimate.basis !== 'hold' && estimate.replicas, 3);
  });
});

describe('scenarios', () => {
  it('idle: after a quiet stabilization window, scales down to minReplicas', () => {
    const idle = { arrivalRate: 0, backlog: 0, perReplicaRate: 400, lagSeconds: 0.05 };
    const decision = decideAt(0, 3, idle, { history: steadyHistory(0, 300) });
    assert.equal(decision.recommendation, 0);
    assert.equal(decision.desired, 1);
    assert.equal(decision.limitedBy, 'min');
    assert.match(decision.reason, /Scaling from 3 to 1 replica: minReplicas is 1\.$/);
  });

  it('idle right after a start or failover: waits a full window before scaling down', () => {
    const idle = { arrivalRate: 0, backlog: 0, perReplicaRate: 400, lagSeconds: 0.05 };
    let decision = decideAt(0, 3, idle, { history: undefined });
    assert.equal(decision.desired, 3);
    assert.equal(decision.limitedBy, 'stabilization');
    assert.match(decision.reason, /highest recommendation of the last 5m0s/);
    for (let seconds = 15; seconds < 300; seconds += 15) {
      decision = decideAt(seconds, 3, idle, { history: decision.history });
      assert.equal(decision.desired, 3, `at ${seconds}s`);
    }
    assert.equal(decideAt(300, 3, idle, { history: decision.history }).desired, 1);
  });

  it('burst: scales up at once, as far as the scale-up policies allow per period', () => {
    // λ x5: 4000/s at 500/s per replica needs 8; from 2, +100% gives 4 and +4 pods gives 6: Max is 6.
    const burst = { arrivalRate: 4000, backlog: 0, perReplicaRate: 500, lagSeconds: 3 };
    const first = decideAt(0, 2, burst);
    assert.deepEqual([first.recommendation, first.desired, first.limitedBy], [8, 6, 'scaleUpPolicy']);
    const afterScale = recordScaleEvent(first.history, at(0), 2, 6);

    // Within the same 15 s period the 4 pods already added use up the allowance.
    const sameperiod = decideAt(10, 6, burst, { history: afterScale });
    assert.deepEqual([sameperiod.desired, sameperiod.limitedBy], [6, 'scaleUpPolicy']);

    // A period later the rest follows.
    const next = decideAt(15, 6, burst, { history: sameperiod.history });
    assert.deepEqual([next.desired, next.limitedBy], [8, undefined]);
  });

  it('drain: a backlog scales up to drain it within the target, then the count comes down after the window', () => {
    // (1000 + 100000/10) / 2000 = 5.5 -> 6; from 2, +4 pods allows 6.
    const backlogged = { arrivalRate: 1000, backlog: 100_000, perReplicaRate: 2000, lagSeconds: 45 };
    const up = decideAt(0, 2, backlogged);
    assert.deepEqual([up.recommendation, up.desired, up.limitedBy], [6, 6, undefined]);
    assert.equal(condition(up, 'LagWithinTarget')?.status, 'False');

    let history = recordScaleEvent(up.history, at(0), 2, 6);
    const drained = { arrivalRate: 1000, backlog: 0, perReplicaRate: 2000, lagSeconds: 0.5 };
    for (let seconds = 15; seconds < 300; seconds += 15) {
      const held = decideAt(seconds, 6, drained, { history });
      history = held.history;
      assert.deepEqual([held.recommendation, held.desired], [1, 6], `at ${seconds}s`);
    }
    // 300 s after the last recommendation of 6, the window holds only 1s.
    const down = decideAt(300, 6, drained, { history });
    assert.deepEqual([down.desired, down.limitedBy], [1, undefined]);
  });

  it('missing μ: falls back to the lag ratio ceil(current * L / T)', () => {
    for (const perReplicaRate of [undefined, 0, Number.NaN, -5, Number.POSITIVE_INFINITY]) {
      const decision = decideAt(0, 2, { arrivalRate: 900, backlog: 50, perReplicaRate, lagSeconds: 25 });
      // 2 * 25 / 10 = 5
      assert.deepEqual([decision.basis, decision.recommendation, decision.desired], ['lagRatio', 5, 5]);
      assert.equal(condition(decision, 'MetricsAvailable')?.reason, 'FallbackToLagRatio');
      assert.match(
        decision.reason,
        /^Without perReplicaRate the lag ratio decides: lag 25s against the 10s target/,
      );
    }
  });

  it('metrics missing: holds the current count and says so', () => {
    const decision = decideAt(0, 4, { partitions: 12 });
    assert.deepEqual([decision.basis, decision.desired, decision.limitedBy], ['hold', 4, 'metricsMissing']);
    assert.deepEqual(condition(decision, 'MetricsAvailable'), {
      type: 'MetricsAvailable',
      status: 'False',
      reason: 'MetricsMissing',
      message: 'Missing arrivalRate, backlog, perReplicaRate, lagSeconds: holding the replica count.',
    });
    assert.equal(condition(decision, 'LagWithinTarget')?.status, 'Unknown');
    assert.match(decision.reason, /holding rather than scaling blind\. Keeping 4 replicas\.$/);
  });

  it('metrics missing: still honours a lowered maxReplicas', () => {
    const decision = decideAt(0, 15, {});
    assert.deepEqual([decision.desired, decision.limitedBy], [12, 'metricsMissing']);
    assert.match(decision.reason, /Scaling from 15 to 12 replicas: maxReplicas is 12\.$/);
  });

  it('metrics missing: the held count enters the window, so a scale-down waits once metrics return', () => {
    const held = decideAt(0, 5, {}, { history: steadyHistory(1, 300) });
    const back = decideAt(
      15,
      5,
      { arrivalRate: 0, backlog: 0, perReplicaRate: 100 },
      { history: held.history },
    );
    assert.deepEqual([back.desired, back.limitedBy], [5, 'stabilization']);
  });
});

describe('the worked example of docs/scaling-policy.md', () => {
  it('scales 2 -> 6 -> 12 for a burst, to 8 after the window, to 2 after the burst', () => {
    const backlogAt: Record<number, number> = { 15: 30_000, 30: 45_000, 45: 20_000 };
    let current = 2;
    let history: ScalingHistory | undefined;
    const rows: string[] = [];
    for (let seconds = 0; seconds <= 690; seconds += 15) {
      const arrivalRate = seconds === 0 || seconds >= 405 ? 800 : 4000;
      const metrics = { arrivalRate, backlog: backlogAt[seconds] ?? 0, perReplicaRate: 500, partitions: 12 };
      const decision = decideAt(seconds, current, metrics, { history });
      history = decision.history;
      rows.push(`${seconds} ${decision.recommendation} ${decision.desired} ${decision.limitedBy ?? '-'}`);
      if (decision.desired !== current) {
        history = recordScaleEvent(history, at(seconds), current, decision.desired);
        current = decision.desired;
      }
    }
    const row = (seconds: number) => rows[seconds / 15];
    assert.equal(row(0), '0 2 2 -');
    assert.equal(row(15), '15 14 6 scaleUpPolicy');
    assert.equal(row(30), '30 17 12 scaleUpPolicy');
    assert.equal(row(45), '45 12 12 -');
    for (let seconds = 60; seconds <= 330; seconds += 15)
      assert.equal(row(seconds), `${seconds} 8 12 stabilization`);
    assert.equal(row(345), '345 8 8 -');
    for (let seconds = 405; seconds <= 675; seconds += 15)
      assert.equal(row(seconds), `${seconds} 2 8 stabilization`);
    assert.equal(row(690), '690 2 2 -');
  });
});

describe('bounds', () => {
  const flood = { arrivalRate: 40_000, backlog: 0, perReplicaRate: 400 };

  it('caps at the discovered partition count', () => {
    const decision = decideAt(0, 4, { ...flood, partitions: 6 });
    assert.deepEqual([decision.recommendation, decision.desired, decision.limitedBy], [100, 6, 'partitions']);
    assert.match(decision.reason, /the topic has 6 partitions/);
  });

  it("prefers the spec's partition count to the discovered one", () => {
    const decision = decideAt(0, 4, { ...flood, partitions: 6 }, { spec: { partitions: 5 } });
    assert.equal(decision.desired, 5);
  });

  it('caps at maxReplicas when the partitions allow more', () => {
    const decision = decideAt(0, 10, { ...flood, partitions: 24 });
    assert.deepEqual([decision.desired, decision.limitedBy], [12, 'max']);
  });

  it('lets partitions win over minReplicas: an extra replica would only idle', () => {
    const spec = { minReplicas: 3 };
    const idle = decideAt(
      0,
      4,
      { arrivalRate: 0, backlog: 0, perReplicaRate: 400, partitions: 2 },
      {
        spec,
        history: steadyHistory(0, 300),
      },
    );
    assert.deepEqual([idle.desired, idle.limitedBy], [2, 'min']);
    assert.match(idle.reason, /minReplicas is 3, capped by 2 partitions\.$/);
    const busy = decideAt(0, 1, { ...flood, partitions: 2 }, { spec });
    assert.deepEqual([busy.desired, busy.limitedBy], [2, 'partitions']);
  });

  it('raises to minReplicas at once', () => {
    const decision = decideAt(
      0,
      1,
      { arrivalRate: 0, backlog: 0, perReplicaRate: 400 },
      { spec: { minReplicas: 3 } },
    );
    assert.deepEqual([decision.desired, decision.limitedBy], [3, 'min']);
  });
});

describe('tolerance', () => {
  const asking = (replicas: number) => ({ arrivalRate: replicas * 100, backlog: 0, perReplicaRate: 100 });

  it('ignores a change of at most 10% of the current count, edge included', () => {
    const decision = decideAt(0, 10, asking(11));
    assert.deepEqual([decision.recommendation, decision.desired, decision.limitedBy], [11, 10, 'tolerance']);
    assert.equal(condition(decision, 'ScalingLimited')?.status, 'False');
    assert.equal(condition(decision, 'ScalingLimited')?.reason, 'WithinTolerance');
    assert.match(decision.reason, /Keeping 10 replicas: 11 is within the 10% tolerance\.$/);
  });

  it('acts on a larger change', () => {
    assert.equal(decideAt(0, 10, asking(12)).desired, 12);
  });

  it('does nothing at tolerance 0 to a matching count, and moves on any other', () => {
    assert.equal(decideAt(0, 10, asking(10), { spec: { tolerance: 0 } }).limitedBy, undefined);
    assert.equal(decideAt(0, 10, asking(11), { spec: { tolerance: 0 } }).desired, 11);
  });
});

describe('step policies', () => {
  const up = (
    policies: { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }[],
    select = 'Max' as const,
  ) => specWith({ behavior: { scaleUp: { policies, selectPolicy: select } } }).behavior.scaleUp;
  const down = (
    policies: { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }[],
    select: 'Max' | 'Min' | 'Disabled' = 'Max',
  ) => specWith({ behavior: { scaleDown: { policies, selectPolicy: select } } }).behavior.scaleDown;

  it('computes percentages in integers: +12% of 25 is 28, not 29', () => {
    assert.equal(stepLimit('up', 25, up([{ type: 'Percent', value: 12, periodSeconds: 15 }]), [], NOW), 28);
  });

  it('rounds a percentage step up, so a small count can still grow', () => {
    assert.equal(stepLimit('up', 1, up([{ type: 'Percent', value: 10, periodSeconds: 15 }]), [], NOW), 2);
  });

  it('selectPolicy Min takes the smallest step, Max the largest', () => {
    const policies = [
      { type: 'Percent' as const, value: 100, periodSeconds: 15 },
      { type: 'Pods' as const, value: 1, periodSeconds: 15 },
    ];
    const rules = specWith({ behavior: { scaleUp: { policies, selectPolicy: 'Min' } } }).behavior.scaleUp;
    assert.equal(stepLimit('up', 4, rules, [], NOW), 5);
    assert.equal(stepLimit('up', 4, up(policies), [], NOW), 8);
    const downPolicies = [
      { type: 'Percent' as const, value: 50, periodSeconds: 60 },
      { type: 'Pods' as const, value: 1, periodSeconds: 60 },
    ];
    assert.equal(stepLimit('down', 10, down(downPolicies, 'Max'), [], NOW), 5);
    assert.equal(stepLimit('down', 10, down(downPolicies, 'Min'), [], NOW), 9);
  });

  it('counts the changes already made in the period', () => {
    const rules = down([{ type: 'Pods', value: 2, periodSeconds: 60 }]);
    const events = [{ time: at(-30), change: -1 }];
    // 10 at the start of the period, 9 now: one more may go.
    assert.equal(stepLimit('down', 9, rules, events, NOW), 8);
    // Once the event leaves the period, two may go from the current count.
    assert.equal(stepLimit('down', 9, rules, events, at(30)), 7);
  });

  it('Disabled never scales in that direction, and says so', () => {
    const decision = decideAt(
      0,
      6,
      { arrivalRate: 0, backlog: 0, perReplicaRate: 100 },
      {
        spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } },
        history: steadyHistory(0, 300),
      },
    );
    assert.deepEqual([decision.desired, decision.limitedBy], [6, 'scaleDownPolicy']);
    assert.match(decision.reason, /scaling down is disabled/);
  });

  it('steps down one pod per minute with a Pods policy', () => {
    const spec = {
      behavior: { scaleDown: { policies: [{ type: 'Pods' as const, value: 1, periodSeconds: 60 }] } },
    };
    const idle = { arrivalRate: 0, backlog: 0, perReplicaRate: 100 };
    const first = decideAt(0, 10, idle, { spec, history: steadyHistory(0, 300) });
    assert.deepEqual([first.desired, first.limitedBy], [9, 'scaleDownPolicy']);
    const history = recordScaleEvent(first.history, at(0), 10, 9);
    assert.equal(decideAt(30, 9, idle, { spec, history }).desired, 9);
    assert.equal(decideAt(60, 9, idle, { spec, history }).desired, 8);
  });
});

describe('stabilize', () => {
  const behavior = specWith({
    behavior: { scaleUp: { stabilizationWindowSeconds: 60 }, scaleDown: { stabilizationWindowSeconds: 120 } },
  }).behavior;
  const previous = [
    { time: at(-100), replicas: 9 },
    { time: at(-50), replicas: 4 },
    { time: at(-10), replicas: 6 },
  ];

  it('scales down only to the highest recommendation in the scale-down window', () => {
    assert.equal(stabilize(2, 8, previous, behavior, NOW), 8);
    assert.equal(stabilize(2, 10, previous, behavior, NOW), 9);
    // 9 has left the 120 s window.
    assert.equal(stabilize(2, 10, previous, behavior, at(30)), 6);
  });

  it('scales up only to the lowest recommendation in the scale-up window', () => {
    assert.equal(stabilize(12, 2, previous, behavior, NOW), 4);
    // 4 has left the 60 s window.
    assert.equal(stabilize(12, 2, previous, behavior, at(15)), 6);
  });

  it('counts the entry at the window edge out', () => {
    assert.equal(stabilize(2, 10, [{ time: at(-120), replicas: 9 }], behavior, NOW), 2);
  });
});

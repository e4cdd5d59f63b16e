/**
 * Properties of the scaling policy over arbitrary specs, measurements (including impossible ones)
 * and histories: the promises the operator makes whatever Prometheus says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { replicationLagCrd } from '../src/api/crd.js';
import type { ScalingPolicy, ScalingRules } from '../src/api/spec.js';
import { decide } from '../src/policy/decide.js';
import { recordScaleEvent } from '../src/policy/history.js';
import type { DecisionInput, MetricsSample, PolicySpec, ScalingHistory } from '../src/policy/types.js';
import { at, NOW } from './support.js';

const RUNS = { numRuns: 500 };

const policy = (maxValue: number): fc.Arbitrary<ScalingPolicy> =>
  fc.record({
    type: fc.constantFrom('Pods' as const, 'Percent' as const),
    value: fc.integer({ min: 1, max: maxValue }),
    periodSeconds: fc.integer({ min: 1, max: 600 }),
  });

const rules = (maxValue: number): fc.Arbitrary<ScalingRules> =>
  fc.record({
    stabilizationWindowSeconds: fc.integer({ min: 0, max: 600 }),
    policies: fc.array(policy(maxValue), { minLength: 1, maxLength: 3 }),
    selectPolicy: fc.constantFrom('Max' as const, 'Min' as const, 'Disabled' as const),
  });

/** Specs as the CRD admits them (minReplicas <= maxReplicas, <= partitions; scale-down at most 100%). */
const specs: fc.Arbitrary<PolicySpec> = fc
  .record({
    minReplicas: fc.integer({ min: 1, max: 20 }),
    extra: fc.integer({ min: 0, max: 30 }),
    partitionsAbove: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
    // Whole percents: fast-check's doubles crowd near zero, where the band holds no whole replica.
    tolerance: fc.integer({ min: 0, max: 100 }).map((percent) => percent / 100),
    targetLagSeconds: fc.double({ min: 0.1, max: 600, noNaN: true }),
    behavior: fc.record({ scaleUp: rules(1000), scaleDown: rules(100) }),
  })
  .map(({ minReplicas, extra, partitionsAbove, ...rest }) => ({
    ...rest,
    minReplicas,
    maxReplicas: minReplicas + extra,
    ...(partitionsAbove === undefined ? {} : { partitions: minReplicas + partitionsAbove }),
  }));

/** Whatever a PromQL answer could turn into, nonsense included. */
const impossible = fc.constantFrom(
  undefined,
  Number.NaN,
  -1,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
);
const amount = (max: number) =>
  fc.oneof(fc.double({ min: 0, max, noNaN: true }), fc.integer({ min: 0, max }), impossible);

const samples: fc.Arbitrary<MetricsSample> = fc.record({
  arrivalRate: amount(100_000),
  backlog: amount(10_000_000),
  perReplicaRate: amount(50_000),
  lagSeconds: amount(3600),
  partitions: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constantFrom(undefined, 0, 2.5, Number.NaN)),
});

const histories: fc.Arbitrary<ScalingHistory | undefined> = fc.option(
  fc.record({
    recommendations: fc.array(
      fc.record({
        time: fc.integer({ min: at(-1000), max: NOW }),
        replicas: fc.integer({ min: 0, max: 80 }),
      }),
      { maxLength: 30 },
    ),
    scaleEvents: fc.array(
      fc.record({ time: fc.integer({ min: at(-700), max: NOW }), change: fc.integer({ min: -10, max: 10 }) }),
      { maxLength: 10 },
    ),
  }),
  { nil: undefined },
);

const inputs: fc.Arbitrary<DecisionInput> = fc.record({
  now: fc.constant(NOW),
  currentReplicas: fc.integer({ min: 0, max: 80 }),
  metrics: samples,
  spec: specs,
  history: histories,
});

/** The bounds, worked out independently of the implementation. */
function bounds({ spec, metrics }: DecisionInput): { lower: number; upper: number } {
  const discovered =
    metrics.partitions !== undefined && Number.isInteger(metrics.partitions) && metrics.partitions >= 1
      ? metrics.partitions
      : Infinity;
  const upper = Math.min(spec.maxReplicas, spec.partitions ?? discovered);
  return { lower: Math.min(spec.minReplicas, upper), upper };
}

describe('scaling policy properties', () => {
  it('never leaves [min, min(max, partitions)], and never exceeds the partitions', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const { desired } = decide(input);
        const { lower, upper } = bounds(input);
        assert.ok(Number.isInteger(desired));
        assert.ok(desired >= lower && desired <= upper, `${desired} outside [${lower}, ${upper}]`);
        const partitions = input.spec.partitions ?? input.metrics.partitions;
        if (partitions !== undefined && Number.isInteger(partitions) && partitions >= 1)
          assert.ok(desired <= partitions);
      }),
      RUNS,
    );
  });

  it('never scales down on missing metrics: holds, within the bounds, and says so', () => {
    const blind = fc
      .record({
        input: inputs,
        lagSeconds: impossible,
        gap: fc.constantFrom('arrivalRate', 'backlog', 'perReplicaRate'),
      })
      .map(({ input, lagSeconds, gap }) => ({
        ...input,
        metrics: { ...input.metrics, lagSeconds, [gap]: undefined },
      }));
    fc.assert(
      fc.property(blind, (input) => {
        const decision = decide(input);
        const { lower, upper } = bounds(input);
        const current = input.currentReplicas;
        assert.equal(decision.desired, Math.min(upper, Math.max(lower, current)));
        if (current <= upper) assert.ok(decision.desired >= current);
        assert.equal(decision.basis, 'hold');
        assert.equal(decision.limitedBy, 'metricsMissing');
        assert.equal(decision.conditions.find((hint) => hint.type === 'MetricsAvailable')?.status, 'False');
      }),
      RUNS,
    );
  });

  it('changes nothing while the recommendation is inside the tolerance band', () => {
    // A current count inside the bounds, and a throughput sample asking for a count near it.
    const inBand = inputs.chain((input) => {
      const { lower, upper } = bounds({ ...input, metrics: {} });
      return fc.integer({ min: lower, max: upper }).chain((current) => {
        // Strictly inside, so the assertion does not hinge on rounding at the edge.
        const reach = Math.max(0, Math.floor(input.spec.tolerance * current - 1e-6));
        return fc.integer({ min: -reach, max: reach }).map((offset) => ({
          ...input,
          currentReplicas: current,
          metrics: { arrivalRate: current + offset, backlog: 0, perReplicaRate: 1 },
        }));
      });
    });
    fc.assert(
      fc.property(inBand, (input) => {
        const decision = decide(input);
        assert.equal(decision.desired, input.currentReplicas, decision.reason);
      }),
      RUNS,
    );
  });

  it('is monotone in backlog: more backlog never gives fewer replicas', () => {
    const backlogs = fc.oneof(
      fc.integer({ min: 0, max: 10_000_000 }),
      fc.double({ min: 0, max: 1e7, noNaN: true }),
    );
    fc.assert(
      fc.property(inputs, backlogs, backlogs, (input, a, b) => {
        const [less, more] = a <= b ? [a, b] : [b, a];
        const withBacklog = (backlog: number) => decide({ ...input, metrics: { ...input.metrics, backlog } });
        const low = withBacklog(less);
        const high = withBacklog(more);
        assert.ok(low.recommendation <= high.recommendation);
        assert.ok(
          low.desired <= high.desired,
          `backlog ${less} -> ${low.desired}, ${more} -> ${high.desired}`,
        );
      }),
      RUNS,
    );
  });

  it('scales down no lower than the highest recommendation in the scale-down window', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const decision = decide(input);
        fc.pre(decision.desired < input.currentReplicas);
        const { upper } = bounds(input);
        const window = input.spec.behavior.scaleDown.stabilizationWindowSeconds;
        // A first decision remembers the current count as if it had been recommended just now.
        const remembered = input.history?.recommendations ?? [
          { time: input.now, replicas: input.currentReplicas },
        ];
        for (const entry of remembered.filter((rec) => rec.time > input.now - window * 1000))
          assert.ok(
            decision.desired >= Math.min(entry.replicas, upper),
            `${decision.desired} < ${entry.replicas}`,
          );
      }),
      RUNS,
    );
  });

  it('explains every decision: a reason, a limit whenever it departs from the recommendation, valid conditions', () => {
    const schema = replicationLagCrd.spec.versions[0]?.schema.openAPIV3Schema;
    const reasonPattern =
      schema?.properties?.status?.properties?.conditions?.items?.properties?.reason?.pattern;
    assert.ok(reasonPattern);
    fc.assert(
      fc.property(inputs, (input) => {
        const decision = decide(input);
        assert.ok(decision.reason.length > 0);
        if (decision.desired !== decision.recommendation) assert.notEqual(decision.limitedBy, undefined);
        assert.deepEqual(
          decision.conditions.map((hint) => hint.type),
          ['MetricsAvailable', 'ScalingLimited', 'LagWithinTarget'],
        );
        for (const hint of decision.conditions) assert.match(hint.reason, new RegExp(reasonPattern));
      }),
      RUNS,
    );
  });

  it('is pure: leaves its input untouched and answers the same twice', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const snapshot = structuredClone(input);
        const frozen = deepFreeze(structuredClone(input));
        assert.deepEqual(decide(frozen), decide(frozen));
        assert.deepEqual(frozen, snapshot);
      }),
      RUNS,
    );
  });

  it('keeps only the history its windows and periods can reach, plus this recommendation', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const { history } = decide(input);
        const { scaleUp, scaleDown } = input.spec.behavior;
        const window = Math.max(scaleUp.stabilizationWindowSeconds, scaleDown.stabilizationWindowSeconds);
        assert.ok(
          history.recommendations.every(
            (rec) => rec.time > input.now - window * 1000 || rec.time === input.now,
          ),
        );
        assert.equal(history.recommendations.at(-1)?.time, input.now);
      }),
      RUNS,
    );
  });
});

describe('step limits over a run of decisions', () => {
  /** One Pods or Percent policy per direction, so that each step's allowance has one formula. */
  const singlePolicyRules = (maxValue: number) =>
    fc.record({
      stabilizationWindowSeconds: fc.integer({ min: 0, max: 120 }),
      policies: fc.tuple(policy(maxValue)),
      selectPolicy: fc.constant('Max' as const),
    });
  const runs = fc.record({
    spec: specs.chain((spec) =>
      fc
        .record({ scaleUp: singlePolicyRules(300), scaleDown: singlePolicyRules(100) })
        .map((behavior) => ({ ...spec, behavior })),
    ),
    start: fc.integer({ min: 1, max: 40 }),
    polls: fc.array(fc.record({ afterSeconds: fc.integer({ min: 1, max: 90 }), metrics: samples }), {
      minLength: 1,
      maxLength: 40,
    }),
  });

  it('never moves further within a period than its policy allows from the count at the period start', () => {
    fc.assert(
      fc.property(runs, ({ spec, start, polls }) => {
        const timeline = [{ time: -Infinity, replicas: start }];
        // The count right after every change at or before `time`: what a period starting then began with.
        const replicasAt = (time: number) =>
          timeline.filter((point) => point.time <= time).at(-1)?.replicas ?? start;
        let now = NOW;
        let current = start;
        let history: ScalingHistory | undefined;
        for (const { afterSeconds, metrics } of polls) {
          now += afterSeconds * 1000;
          const decision = decide({ now, currentReplicas: current, metrics, spec, history });
          const { lower, upper } = bounds({ now, currentReplicas: current, metrics, spec, history });
          const { desired } = decision;
          if (desired > current) {
            const [rule] = spec.behavior.scaleUp.policies;
            const base = replicasAt(now - rule.periodSeconds * 1000);
            const allowed =
              rule.type === 'Pods' ? base + rule.value : base + Math.ceil((base * rule.value) / 100);
            assert.ok(
              desired <= Math.max(allowed, lower),
              `up to ${desired}, allowed ${allowed} from ${base}`,
            );
          } else if (desired < current) {
            const [rule] = spec.behavior.scaleDown.policies;
            const base = replicasAt(now - rule.periodSeconds * 1000);
            const allowed =
              rule.type === 'Pods' ? base - rule.value : base - Math.floor((base * rule.value) / 100);
            assert.ok(
              desired >= Math.min(allowed, upper),
              `down to ${desired}, allowed ${allowed} from ${base}`,
            );
          }
          history = decision.history;
          if (desired !== current) {
            history = recordScaleEvent(history, now, current, desired);
            timeline.push({ time: now, replicas: desired });
            current = desired;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

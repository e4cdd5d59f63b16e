import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ReplicationLag } from '../src/api/types.js';
import { mergeConditions } from '../src/controller/conditions.js';
import { backoffDelay } from '../src/controller/informer.js';
import { WorkQueue } from '../src/controller/queue.js';
import { blockedStatus, decidedStatus } from '../src/controller/status.js';
import type { Measurements } from '../src/metrics/source.js';
import { decide } from '../src/policy/index.js';
import { NOW, specWith } from './support.js';

const resource = (status?: ReplicationLag['status']): ReplicationLag => ({
  apiVersion: 'pulse.dev/v1alpha1',
  kind: 'ReplicationLag',
  metadata: { name: 'pulse', namespace: 'pulse', generation: 3 },
  spec: specWith(),
  ...(status === undefined ? {} : { status }),
});

describe('mergeConditions', () => {
  const earlier = new Date(NOW);
  const later = new Date(NOW + 60_000);

  it('keeps the transition time while the status stays, and moves it when the status flips', () => {
    const first = mergeConditions(
      undefined,
      [{ type: 'Ready', status: 'True', reason: 'Scaling', message: 'a' }],
      1,
      earlier,
    );
    const same = mergeConditions(
      first,
      [{ type: 'Ready', status: 'True', reason: 'Other', message: 'b' }],
      2,
      later,
    );
    assert.deepEqual(
      [same[0]?.lastTransitionTime, same[0]?.reason, same[0]?.observedGeneration],
      [earlier.toISOString(), 'Other', 2],
    );
    const flipped = mergeConditions(
      same,
      [{ type: 'Ready', status: 'False', reason: 'X', message: 'c' }],
      2,
      later,
    );
    assert.equal(flipped[0]?.lastTransitionTime, later.toISOString());
  });

  it('leaves conditions it is not given as they were', () => {
    const before = mergeConditions(
      undefined,
      [{ type: 'LagWithinTarget', status: 'True', reason: 'LagWithinTarget', message: '' }],
      1,
      earlier,
    );
    const after = mergeConditions(
      before,
      [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: '' }],
      2,
      later,
    );
    assert.deepEqual(
      after.map((c) => c.type),
      ['LagWithinTarget', 'Ready'],
    );
    assert.deepEqual(after[0], before[0]);
  });
});

describe('decidedStatus', () => {
  const spec = specWith({ partitions: 4 });
  const now = new Date(NOW);
  /** The status written after deciding on these measurements with this many replicas running. */
  const statusAfter = (measurements: Measurements, replicas: number, scaledAt?: Date) =>
    decidedStatus({
      resource: resource(),
      spec,
      now,
      measurements,
      decision: decide({
        now: NOW,
        currentReplicas: replicas,
        metrics: measurements.sample,
        spec,
        history: undefined,
      }),
      observedReplicas: replicas,
      ...(scaledAt === undefined ? {} : { scaledAt }),
    });

  it('sends unknown values as null, so that no stale value stays on display', () => {
    const measurements: Measurements = {
      sample: {},
      stages: [{ name: 'relay', lagSeconds: 1 }],
      failures: [],
    };
    const status = statusAfter(measurements, 2);
    assert.equal(status.lag, null);
    assert.equal(status.backlog, null);
    assert.equal(status.replicaLag, null);
    assert.equal(status.arrivalRate, null);
    assert.equal(status.perReplicaRate, null);
    assert.deepEqual(
      [status.lastDecision?.limitedBy, status.lastDecision?.basis],
      ['metricsMissing', 'hold'],
    );
    assert.equal(status.partitions, 4);
    assert.equal(status.observedGeneration, 3);
    assert.equal(status.lastScaleTime, undefined);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    assert.deepEqual([ready?.status, ready?.reason], ['False', 'MetricsMissing']);
  });

  it('rounds the integer fields and reports the scale time and a null limit when none applied', () => {
    const measurements: Measurements = {
      sample: { arrivalRate: 100, backlog: 10.4, perReplicaRate: 200, lagSeconds: 1, partitions: 4 },
      stages: [
        { name: 'relay', lagSeconds: 0.5, backlog: 2.6 },
        { name: 'projection', lagSeconds: 1, backlog: 10.4 },
      ],
      failures: [],
    };
    const status = statusAfter(measurements, 1, now);
    assert.deepEqual(status.stages, [
      { name: 'relay', lagSeconds: 0.5, backlog: 3 },
      { name: 'projection', lagSeconds: 1, backlog: 10 },
    ]);
    assert.equal(status.backlog, 13);
    assert.equal(status.lag, '1.5s');
    assert.equal(status.lastScaleTime, now.toISOString());
    assert.equal(status.lastDecision?.limitedBy, null);
    assert.equal(status.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });
});

describe('blockedStatus', () => {
  it('sets Ready=False with the reason and keeps the other conditions', () => {
    const lag = {
      type: 'LagWithinTarget',
      status: 'True',
      reason: 'LagWithinTarget',
      message: '',
      lastTransitionTime: 'x',
    } as const;
    const status = blockedStatus(resource({ conditions: [lag] }), new Date(NOW), 'InvalidSpec', 'bad');
    assert.deepEqual(
      status.conditions?.map((c) => [c.type, c.status, c.reason]),
      [
        ['LagWithinTarget', 'True', 'LagWithinTarget'],
        ['Ready', 'False', 'InvalidSpec'],
      ],
    );
    assert.equal(status.observedGeneration, 3);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the maximum, jittered within the upper half', () => {
    const backoff = { initialMs: 500, maxMs: 30_000 };
    assert.equal(
      backoffDelay(0, backoff, () => 0),
      250,
    );
    assert.equal(
      backoffDelay(0, backoff, () => 1),
      500,
    );
    assert.equal(
      backoffDelay(3, backoff, () => 1),
      4000,
    );
    assert.equal(
      backoffDelay(20, backoff, () => 1),
      30_000,
    );
  });
});

describe('WorkQueue', () => {
  const backoff = { initialMs: 10, maxMs: 20 };

  /** Resolves when `count` runs have happened. */
  function recorder(count: number) {
    const runs: string[] = [];
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    return {
      runs,
      finished,
      note(key: string) {
        runs.push(key);
        if (runs.length === count) done();
      },
    };
  }

  it('runs a key once for adds that arrive while it waits, and once more for adds while it runs', async () => {
    const record = recorder(2);
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const queue = new WorkQueue(
      async (key) => {
        record.note(key);
        if (record.runs.length === 1) {
          started();
          await blocked;
        }
        return { requeueAfterMs: undefined };
      },
      2,
      backoff,
      () => undefined,
    );
    queue.start();
    queue.add('a');
    queue.add('a');
    await running;
    // In flight now: these two adds make exactly one more run, after this one.
    queue.add('a');
    queue.add('a');
    release();
    await record.finished;
    await queue.stop();
    assert.deepEqual(record.runs, ['a', 'a']);
  });

  it('requeues after the interval a run asks for, and retries a failing run', async () => {
    const record = recorder(3);
    const errors: string[] = [];
    const queue = new WorkQueue(
      (key) => {
        record.note(key);
        if (record.runs.length === 1) return Promise.reject(new Error('boom'));
        return Promise.resolve({ requeueAfterMs: record.runs.length < 3 ? 5 : undefined });
      },
      1,
      backoff,
      (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    );
    queue.start();
    queue.add('b');
    await record.finished;
    await queue.stop();
    assert.deepEqual(record.runs, ['b', 'b', 'b']);
    assert.deepEqual(errors, ['b: boom']);
  });

  it('does not run a key that was forgotten', async () => {
    const record = recorder(1);
    const queue = new WorkQueue(
      (key) => {
        record.note(key);
        return Promise.resolve({ requeueAfterMs: undefined });
      },
      1,
      backoff,
      () => undefined,
    );
    queue.start();
    queue.add('c');
    queue.forget('c');
    // Timers fire in order of due time: had 'c' not been forgotten, it would have run first.
    queue.add('d', 5);
    await record.finished;
    await queue.stop();
    assert.deepEqual(record.runs, ['d']);
  });
});

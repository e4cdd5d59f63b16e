import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseReplicationLagSpec } from '../src/api/spec.js';
import { MINIMAL_SPEC, specWith } from './support.js';

describe('parseReplicationLagSpec', () => {
  it('applies every default to a minimal spec', () => {
    const spec = specWith();
    assert.equal(spec.minReplicas, 1);
    assert.equal(spec.tolerance, 0.1);
    assert.equal(spec.pollIntervalSeconds, 15);
    assert.equal(spec.partitions, undefined);
    assert.deepEqual(spec.behavior.scaleDown, {
      stabilizationWindowSeconds: 300,
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      selectPolicy: 'Max',
    });
  });

  it('keeps what is written and defaults only the rest of a rule set', () => {
    const spec = specWith({ behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } });
    assert.equal(spec.behavior.scaleDown.stabilizationWindowSeconds, 60);
    assert.equal(spec.behavior.scaleDown.selectPolicy, 'Max');
    assert.equal(spec.behavior.scaleUp.stabilizationWindowSeconds, 0);
  });

  it('gives every parsed spec its own copy of the default policies', () => {
    const first = specWith();
    first.behavior.scaleUp.policies.push({ type: 'Pods', value: 1, periodSeconds: 1 });
    assert.equal(specWith().behavior.scaleUp.policies.length, 2);
  });

  it('keeps query overrides and drops fields the API does not have', () => {
    const result = parseReplicationLagSpec({
      ...MINIMAL_SPEC,
      prometheus: { address: 'https://prom.example:9090', queries: { arrivalRate: 'sum(rate(x[1m]))' } },
      surplus: true,
    });
    assert.ok(result.ok);
    assert.deepEqual(result.spec.prometheus.queries, { arrivalRate: 'sum(rate(x[1m]))' });
    assert.ok(!('surplus' in result.spec));
  });

  const failure = (input: unknown): string => {
    const result = parseReplicationLagSpec(input);
    assert.ok(!result.ok, `accepted ${JSON.stringify(input)}`);
    return result.error;
  };

  it('names each invalid field', () => {
    assert.match(failure({ ...MINIMAL_SPEC, maxReplicas: 0 }), /maxReplicas/);
    assert.match(failure({ ...MINIMAL_SPEC, tolerance: 1.5 }), /tolerance/);
    assert.match(failure({ ...MINIMAL_SPEC, targetLagSeconds: 0 }), /targetLagSeconds/);
    assert.match(
      failure({ ...MINIMAL_SPEC, scaleTargetRef: { name: 'Replicator_1' } }),
      /scaleTargetRef\.name/,
    );
    assert.match(
      failure({ ...MINIMAL_SPEC, scaleTargetRef: { name: 'r', kind: 'StatefulSet' } }),
      /scaleTargetRef\.kind/,
    );
    assert.match(
      failure({ ...MINIMAL_SPEC, prometheus: { address: 'prometheus:9090' } }),
      /prometheus\.address/,
    );
    assert.match(
      failure({ ...MINIMAL_SPEC, behavior: { scaleUp: { policies: [] } } }),
      /behavior\.scaleUp\.policies/,
    );
    assert.match(
      failure({
        ...MINIMAL_SPEC,
        behavior: { scaleUp: { policies: [{ type: 'Pods', value: 0, periodSeconds: 15 }] } },
      }),
      /behavior\.scaleUp\.policies\[0\]\.value/,
    );
    assert.match(failure({ ...MINIMAL_SPEC, partitions: 2.5 }), /partitions/);
  });

  it('requires the target, the Prometheus address and maxReplicas', () => {
    const error = failure({});
    for (const field of ['scaleTargetRef', 'prometheus', 'maxReplicas'])
      assert.match(error, new RegExp(field));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { projectionLagSeconds, stagesOf } from '../src/sync-status.js';

describe('projection lag', () => {
  it('is the last event lag while there is no backlog', () => {
    assert.equal(projectionLagSeconds({ lastLagSeconds: 0.2, sinceLastApplySeconds: 3_600 }, 0), 0.2);
    assert.equal(projectionLagSeconds({ lastLagSeconds: 0.2, sinceLastApplySeconds: 3_600 }, null), 0.2);
  });

  it('grows with the time since the last apply while events wait', () => {
    assert.equal(projectionLagSeconds({ lastLagSeconds: 0.2, sinceLastApplySeconds: 30 }, 5), 30);
    assert.equal(projectionLagSeconds({ lastLagSeconds: 2, sinceLastApplySeconds: 0.1 }, 5), 2);
  });

  it('is 0 before anything was written, unknown when events wait and none was ever applied', () => {
    assert.equal(projectionLagSeconds({ lastLagSeconds: null, sinceLastApplySeconds: null }, 0), 0);
    assert.equal(projectionLagSeconds({ lastLagSeconds: null, sinceLastApplySeconds: null }, 3), null);
  });
});

describe('stages', () => {
  it('sum the partition backlogs and take the worst reachable replica', () => {
    const stages = stagesOf({
      relay: { lagSeconds: 1.5, unpublished: 7 },
      progress: { lastLagSeconds: 0.1, sinceLastApplySeconds: 1 },
      partitions: new Map([
        [0, 2],
        [1, 3],
      ]),
      kafkaError: undefined,
      replicas: [
        { replica: 'a:1/db', up: true, lag_seconds: 0.5, lag_bytes: 100 },
        { replica: 'b:1/db', up: true, lag_seconds: 2, lag_bytes: 10 },
        { replica: 'c:1/db', up: false, lag_seconds: null, lag_bytes: null, error: 'refused' },
      ],
    });
    assert.deepEqual(
      stages.map(({ name, lag_seconds, backlog }) => ({ name, lag_seconds, backlog })),
      [
        { name: 'relay', lag_seconds: 1.5, backlog: 7 },
        { name: 'projection', lag_seconds: 1, backlog: 5 },
        { name: 'replica', lag_seconds: 2, backlog: 100 },
      ],
    );
  });

  it('report unknown rather than zero when Kafka or every replica is away', () => {
    const [, projection, replica] = stagesOf({
      relay: { lagSeconds: 0, unpublished: 0 },
      progress: { lastLagSeconds: 0.1, sinceLastApplySeconds: 1 },
      partitions: undefined,
      kafkaError: 'kafka: refused',
      replicas: [{ replica: 'a:1/db', up: false, lag_seconds: null, lag_bytes: null }],
    });
    assert.ok(projection && replica);
    assert.equal(projection.backlog, null);
    assert.equal(projection.detail.error, 'kafka: refused');
    assert.equal(replica.lag_seconds, null);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mayHaveMore, type OutboxRow } from '../src/relay/outbox.js';

const row = (payloadBytes: number): OutboxRow => ({
  id: '00000000-0000-7000-8000-000000000000',
  position: '1',
  type: 'metrics.system.recorded',
  version: 1,
  tenant_id: '00000000-0000-7000-8000-000000000001',
  aggregate_id: '00000000-0000-7000-8000-000000000002',
  occurred_at: new Date(0),
  created_at: new Date(0),
  traceparent: null,
  payload: {},
  payload_bytes: payloadBytes,
});
const limit = { rows: 3, bytes: 1_000 };

describe('relay: whether a read may have left rows behind', () => {
  it('says no for a read under both limits, which took every final row', () => {
    assert.equal(mayHaveMore([], limit), false);
    assert.equal(mayHaveMore([row(10), row(989)], limit), false);
  });

  it('says yes for a read that ended at the row limit', () => {
    assert.equal(mayHaveMore([row(1), row(1), row(1)], limit), true);
  });

  it('says yes for a read whose payloads reached the byte limit, the next row left out', () => {
    assert.equal(mayHaveMore([row(400), row(600)], limit), true);
    // The first row is always read, however large.
    assert.equal(mayHaveMore([row(5_000)], limit), true);
  });
});

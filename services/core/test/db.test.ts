import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRetryableError, retryDelayMs } from '../src/db.js';

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

describe('isRetryableError', () => {
  it('retries what a failover or a terminated backend produces', () => {
    for (const code of ['57P01', '25006', '08006', '40001', 'ECONNRESET', 'ECONNREFUSED']) {
      assert.equal(isRetryableError(withCode(code)), true, code);
    }
    assert.equal(isRetryableError(new Error('Connection terminated unexpectedly')), true);
  });

  it('does not retry errors that a new attempt would repeat', () => {
    for (const code of ['23505', '23514', '42P01', '22P02'])
      assert.equal(isRetryableError(withCode(code)), false, code);
    assert.equal(isRetryableError(new Error('boom')), false);
    assert.equal(isRetryableError('not an error'), false);
  });
});

describe('retryDelayMs', () => {
  const policy = { deadlineMs: 10_000, initialDelayMs: 100, maxDelayMs: 1_000 };
  it('doubles per attempt up to the cap, jittered into the upper half', () => {
    assert.equal(
      retryDelayMs(policy, 1, () => 1),
      100,
    );
    assert.equal(
      retryDelayMs(policy, 1, () => 0),
      50,
    );
    assert.equal(
      retryDelayMs(policy, 3, () => 1),
      400,
    );
    assert.equal(
      retryDelayMs(policy, 10, () => 1),
      1_000,
    );
  });
});

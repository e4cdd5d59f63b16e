import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter, takeToken } from '../src/rate-limit.js';

describe('takeToken', () => {
  it('allows a full burst, then refuses with the wait until the next token', () => {
    let bucket = undefined;
    for (let i = 0; i < 3; i++) {
      const result = takeToken(bucket, 0, 2, 3);
      assert.equal(result.allowed, true);
      bucket = result.bucket;
    }
    const refused = takeToken(bucket, 0, 2, 3);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAfterSeconds, 1);
  });

  it('refills at the rate, never beyond the burst', () => {
    const empty = { tokens: 0, updatedMs: 0 };
    assert.equal(takeToken(empty, 400, 2, 3).allowed, false, '0.8 tokens after 400 ms');
    assert.equal(takeToken(empty, 500, 2, 3).allowed, true, 'one token after 500 ms');
    assert.equal(takeToken(empty, 60_000, 2, 3).bucket.tokens, 2, 'capped at the burst, minus the one taken');
  });

  it('rounds Retry-After up to whole seconds for slow rates', () => {
    const result = takeToken({ tokens: 0, updatedMs: 0 }, 0, 0.1, 1);
    assert.equal(result.retryAfterSeconds, 10);
  });
});

describe('RateLimiter', () => {
  it('keeps one bucket per key', () => {
    const limiter = new RateLimiter(1, 1);
    assert.equal(limiter.take('a', 0).allowed, true);
    assert.equal(limiter.take('a', 0).allowed, false);
    assert.equal(limiter.take('b', 0).allowed, true);
    assert.equal(limiter.take('a', 1_000).allowed, true);
  });
});

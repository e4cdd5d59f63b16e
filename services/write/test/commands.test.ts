import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { hashApiKey } from '@pulse/core';
import { generateApiKey } from '../src/auth.js';
import { requestFingerprint } from '../src/commands.js';

describe('requestFingerprint', () => {
  it('differs when the route or the body differs', () => {
    const base = requestFingerprint('POST', '/api/v1/metrics/system', { a: 1 });
    assert.equal(requestFingerprint('POST', '/api/v1/metrics/system', { a: 1 }), base);
    assert.notEqual(requestFingerprint('POST', '/api/v1/metrics/system', { a: 2 }), base);
    assert.notEqual(requestFingerprint('POST', '/api/v1/metrics/process', { a: 1 }), base);
  });
});

describe('API keys', () => {
  it('are random and stored as their SHA-256', () => {
    const a = generateApiKey();
    assert.notEqual(a, generateApiKey());
    assert.ok(a.length >= 40);
    assert.deepEqual(hashApiKey(a), createHash('sha256').update(a).digest());
  });
});

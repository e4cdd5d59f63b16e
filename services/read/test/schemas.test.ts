import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldErrors } from '@pulse/core';
import { queries, resolveRange } from '../src/schemas.js';

const fieldsOf = (result: { success: boolean; error?: Parameters<typeof fieldErrors>[0] }) =>
  result.error ? fieldErrors(result.error, 'query').map((e) => e.field) : [];

describe('query parameters', () => {
  it('apply defaults and parse lists and labels', () => {
    assert.deepEqual(queries.services.parse({}), { limit: 100 });
    assert.deepEqual(
      queries.services.parse({ health: 'down,unknown', label: ['env:prod', 'url:http://x'] }),
      {
        health: ['down', 'unknown'],
        label: { env: 'prod', url: 'http://x' },
        limit: 100,
      },
    );
    assert.deepEqual(queries.services.parse({ health: ['down', 'healthy'] }).health, ['down', 'healthy']);
    assert.deepEqual(queries.processes.parse({ limit: '5' }), { sort: 'cpu', limit: 5 });
  });

  it('name the parameter that is wrong', () => {
    assert.deepEqual(fieldsOf(queries.services.safeParse({ limit: '0' })), ['limit']);
    assert.deepEqual(fieldsOf(queries.services.safeParse({ limit: ['1', '2'] })), ['limit']);
    assert.deepEqual(fieldsOf(queries.services.safeParse({ health: 'down,sick' })), ['health']);
    assert.deepEqual(fieldsOf(queries.services.safeParse({ health: '' })), ['health']);
    assert.deepEqual(fieldsOf(queries.services.safeParse({ label: ':x' })), ['label']);
    assert.deepEqual(fieldsOf(queries.alerts.safeParse({ service: 'x', severity: 'low' })), [
      'service',
      'severity',
    ]);
    assert.deepEqual(fieldsOf(queries.processes.safeParse({ sort: 'disk' })), ['sort']);
  });

  it('check a time range with its defaults applied', () => {
    assert.deepEqual(fieldsOf(queries.hourly.safeParse({ from: '2030-01-01T00:00:00Z' })), ['from']);
    assert.deepEqual(
      fieldsOf(queries.hourly.safeParse({ from: '2024-01-02T00:00:00Z', to: '2024-01-01T00:00:00Z' })),
      ['from'],
    );
    assert.deepEqual(
      fieldsOf(queries.raw.safeParse({ from: '2024-01-01T00:00:00Z', to: '2024-03-01T00:00:00Z' })),
      ['from'],
    );
    assert.equal(
      queries.hourly.safeParse({ from: '2024-01-01T00:00:00+02:00', to: '2024-01-02T00:00:00Z' }).success,
      true,
    );
    assert.deepEqual(fieldsOf(queries.raw.safeParse({ to: 'tomorrow' })), ['to']);
  });

  it('resolve a range: to defaults to now, from to the default span before to', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.deepEqual(resolveRange({}, 3_600_000, now), { fromMs: now - 3_600_000, toMs: now });
    assert.deepEqual(resolveRange({ to: '2024-05-01T00:00:00Z' }, 60_000, now), {
      fromMs: Date.parse('2024-05-01T00:00:00Z') - 60_000,
      toMs: Date.parse('2024-05-01T00:00:00Z'),
    });
  });
});

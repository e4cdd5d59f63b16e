import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { fieldErrors, fieldName } from '../src/routes.js';

describe('fieldName', () => {
  it('addresses a field the way the client wrote it', () => {
    assert.equal(fieldName(['samples', 3, 'cpu_usage']), 'samples[3].cpu_usage');
    assert.equal(fieldName(['processes', 0, 'pid']), 'processes[0].pid');
    assert.equal(fieldName([]), 'body');
    assert.equal(fieldName([], 'Idempotency-Key'), 'Idempotency-Key');
  });

  it('names each failing item of a zod error', () => {
    const schema = z.object({ samples: z.array(z.object({ cpu: z.number().max(100) })) });
    const result = schema.safeParse({ samples: [{ cpu: 1 }, { cpu: 101 }] });
    assert.equal(result.success, false);
    assert.deepEqual(
      fieldErrors(result.error).map((e) => e.field),
      ['samples[1].cpu'],
    );
  });
});

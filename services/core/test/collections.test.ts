import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupBy } from '../src/collections.js';

describe('groupBy', () => {
  it('lists the items by key, keys and items in their order of appearance', () => {
    const groups = groupBy(['b1', 'a1', 'b2', 'c1', 'a2'], (item) => item[0]);
    assert.deepEqual(
      [...groups],
      [
        ['b', ['b1', 'b2']],
        ['a', ['a1', 'a2']],
        ['c', ['c1']],
      ],
    );
    assert.equal(groupBy([], (item: string) => item).size, 0);
  });
});

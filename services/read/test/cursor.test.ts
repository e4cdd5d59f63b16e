import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { cursorParam, encodeCursor, paginate } from '../src/cursor.js';

describe('cursors', () => {
  const key = cursorParam(z.tuple([z.string(), z.uuid()]));
  const id = '0193a8b4-6c1e-7a3e-9b7c-3f2a1d4e5f60';

  it('decode to the key they encode', () => {
    assert.deepEqual(key.parse(encodeCursor(['checkout', id])), ['checkout', id]);
    assert.deepEqual(key.parse(encodeCursor(['name with "quotes", commas and ünïcode', id])), [
      'name with "quotes", commas and ünïcode',
      id,
    ]);
  });

  it('refuse text that is not a cursor of this key, naming it so', () => {
    for (const text of [
      'garbage',
      encodeCursor(['only-one']),
      encodeCursor(['x', 'not-a-uuid']),
      '',
      '!!!',
    ]) {
      const result = key.safeParse(text);
      assert.equal(result.success, false, text);
      assert.match(String(result.error), /not a cursor/);
    }
  });

  it('paginate a limit + 1 fetch into a page and the next cursor', () => {
    const rows = [1, 2, 3].map((n) => ({ n }));
    const full = paginate(rows, 2, (row) => [row.n]);
    assert.deepEqual(full.items, [{ n: 1 }, { n: 2 }]);
    assert.equal(full.next_cursor, encodeCursor([2]));
    const last = paginate(rows.slice(0, 2), 2, (row) => [row.n]);
    assert.equal(last.next_cursor, null);
    assert.equal(paginate([], 2, () => []).next_cursor, null);
  });
});

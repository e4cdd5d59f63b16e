/**
 * Keyset pagination cursors: the sort key of the last row of a page, as base64url JSON, opaque to
 * clients. A keyset (rather than an offset) keeps pages stable while rows are inserted: a page
 * starts strictly after the last row seen, so no row is skipped or repeated.
 */
import { z } from 'zod';

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** A query parameter schema that decodes a cursor into the given key tuple, or fails naming it. */
export function cursorParam<T extends z.ZodTuple>(key: T) {
  return z
    .string()
    .max(2_048)
    .transform((text, ctx) => {
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
      } catch {
        decoded = undefined;
      }
      const parsed = key.safeParse(decoded);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned' });
        return z.NEVER;
      }
      return parsed.data;
    })
    .meta({ description: 'The next_cursor of the previous page' });
}

/** Splits a page of up to limit + 1 rows into the page and the cursor of the next one. */
export function paginate<R>(
  rows: R[],
  limit: number,
  keyOf: (row: R) => readonly (string | number)[],
): { items: R[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}

/** A client of the write API for suites: JSON in and out, the API key, and the position tokens. */
import { randomBytes } from 'node:crypto';
import { parsePosition, type Position } from '@pulse/core';
import type pg from 'pg';
import { createTenant as createTenantNamed } from '../../harness/api.js';

export { call, expectStatus, newAdminKey, type Reply } from '../../harness/api.js';

/** A tenant with a write+read key and a random name. */
export const createTenant = (writeUrl: string, adminKey: string) =>
  createTenantNamed(writeUrl, adminKey, `t-${randomBytes(4).toString('hex')}`);

export function positionOf(body: Record<string, unknown>): Position {
  const position = parsePosition(String(body.position));
  if (!position) throw new Error(`not a position token: ${String(body.position)}`);
  return position;
}

/** Whether the projection has applied every event of these positions. */
export async function positionsApplied(projectionDb: pg.ClientBase, positions: Position[]): Promise<boolean> {
  const wanted = positions.filter((p) => p.events > 0);
  if (wanted.length === 0) return true;
  const { rows } = await projectionDb.query<{ position: string; n: string }>(
    `select position::text, count(*) as n from applied_events where position = any($1::xid8[]) group by 1`,
    [wanted.map((p) => p.txid)],
  );
  const applied = new Map(rows.map((row) => [row.position, Number(row.n)]));
  return wanted.every((p) => (applied.get(p.txid) ?? 0) >= p.events);
}

/**
 * applied_events of the projection DB: which command positions the projection has applied, and how
 * far behind the writes it runs.
 */
import { formatPosition, onlyRow, type Position } from '@pulse/core';
import type pg from 'pg';

/** True once the projection has applied all `events` events of the write transaction `txid`. */
export async function isApplied(db: pg.Pool, position: Position): Promise<boolean> {
  const { rows } = await db.query<{ applied: number }>(
    'select count(*)::int as applied from applied_events where position = $1::xid8',
    [position.txid],
  );
  return onlyRow(rows).applied >= position.events;
}

/** The position of the tenant's most recently applied command, as a token a client could wait for. */
export async function lastAppliedPosition(db: pg.Pool, tenantId: string): Promise<string | null> {
  const { rows } = await db.query<{ txid: string; events: number }>(
    `with last as (
       select position from applied_events where tenant_id = $1 order by applied_at desc limit 1
     )
     select last.position::text as txid, count(*)::int as events
       from last join applied_events a on a.position = last.position
      group by last.position`,
    [tenantId],
  );
  const [row] = rows;
  return row ? formatPosition({ txid: row.txid, events: row.events }) : null;
}

export interface ApplyProgress {
  /** applied_at - recorded_at of the most recently applied event. */
  lastLagSeconds: number | null;
  /** Seconds since that event was applied. */
  sinceLastApplySeconds: number | null;
}

export async function applyProgress(db: pg.Pool): Promise<ApplyProgress> {
  const { rows } = await db.query<ApplyProgress>(
    `select extract(epoch from applied_at - recorded_at)::float8 as "lastLagSeconds",
            extract(epoch from clock_timestamp() - applied_at)::float8 as "sinceLastApplySeconds"
       from applied_events order by applied_at desc limit 1`,
  );
  return rows[0] ?? { lastLagSeconds: null, sinceLastApplySeconds: null };
}

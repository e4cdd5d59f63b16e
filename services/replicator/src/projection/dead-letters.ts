/**
 * Replaying dead letters after a fix: each pending letter is decoded again and applied in its own
 * transaction, which also marks it replayed. The projections are order-independent merges and
 * applied event ids are remembered, so a late or repeated replay has its effect once.
 */
import { parseEvent, withTransaction, type Logger } from '@pulse/core';
import type pg from 'pg';
import { applyEvents } from './apply.js';

export interface ReplayReport {
  replayed: number;
  stillFailing: { id: string; error: string }[];
}

export async function replayDeadLetters(
  pool: pg.Pool,
  logger: Logger,
  onlyId?: string,
): Promise<ReplayReport> {
  const { rows } = await pool.query<{ id: string; value: string }>(
    `select id::text, value from dead_letters where replayed_at is null and ($1::bigint is null or id = $1) order by id`,
    [onlyId ?? null],
  );
  const report: ReplayReport = { replayed: 0, stillFailing: [] };
  for (const letter of rows) {
    try {
      const event = parseEvent(JSON.parse(letter.value));
      await withTransaction(pool, async (db) => {
        await applyEvents(db, [event]);
        await db.query('update dead_letters set replayed_at = now() where id = $1', [letter.id]);
      });
      report.replayed += 1;
    } catch (error) {
      const message = (error as Error).message;
      report.stillFailing.push({ id: letter.id, error: message });
      logger.warn({ deadLetter: letter.id, error: message }, 'dead letter still fails');
    }
  }
  return report;
}

export async function listDeadLetters(
  pool: pg.Pool,
): Promise<{ id: string; partition: number; offset: string; error: string; failed_at: Date }[]> {
  const { rows } = await pool.query<{
    id: string;
    partition: number;
    offset: string;
    error: string;
    failed_at: Date;
  }>(
    `select id::text, partition, "offset"::text as offset, error, failed_at from dead_letters where replayed_at is null order by id`,
  );
  return rows;
}

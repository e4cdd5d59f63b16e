/** Offsets and dead letters in the projection database, next to the effects they account for. */
import { prepared } from '@pulse/core';
import type pg from 'pg';

export async function storedOffsets(
  db: pg.ClientBase,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const { rows } = await db.query<{ partition: number; next_offset: string }>(
    'select partition, next_offset from projection_offsets where group_id = $1 and topic = $2',
    [groupId, topic],
  );
  return new Map(rows.map((row) => [row.partition, BigInt(row.next_offset)]));
}

/**
 * The partitions' next offsets, with their rows locked until the caller's transaction ends, so that
 * a projector that lost a partition in a rebalance cannot apply a batch at the same time. Rows are
 * locked in partition order, so two transactions that lock several cannot deadlock on them.
 */
export async function lockStoredOffsets(
  db: pg.ClientBase,
  groupId: string,
  topic: string,
  partitions: number[],
): Promise<Map<number, bigint>> {
  const { rows } = await db.query<{ partition: number; next_offset: string }>(
    prepared(
      'projection.lock-stored-offsets',
      `select partition, next_offset from projection_offsets
      where group_id = $1 and topic = $2 and partition = any($3::int[])
      order by partition
        for update`,
      [groupId, topic, partitions],
    ),
  );
  return new Map(rows.map((row) => [row.partition, BigInt(row.next_offset)]));
}

export async function storeOffsets(
  db: pg.ClientBase,
  groupId: string,
  topic: string,
  nextOffsets: Map<number, bigint>,
): Promise<void> {
  const partitions = [...nextOffsets.keys()].sort((a, b) => a - b);
  await db.query(
    prepared(
      'projection.store-offsets',
      `insert into projection_offsets (group_id, topic, partition, next_offset)
     select $1, $2, partition, next_offset from unnest($3::int[], $4::bigint[]) as o(partition, next_offset)
     on conflict (group_id, topic, partition) do update set next_offset = excluded.next_offset, updated_at = now()`,
      [groupId, topic, partitions, partitions.map((partition) => String(nextOffsets.get(partition)))],
    ),
  );
}

export interface DeadLetter {
  eventId: string | undefined;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  error: string;
  attempts: number;
}

export async function storeDeadLetter(db: pg.ClientBase, letter: DeadLetter): Promise<void> {
  await db.query(
    `insert into dead_letters (event_id, topic, partition, "offset", key, value, error, attempts)
     values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (topic, partition, "offset") do nothing`,
    [
      letter.eventId ?? null,
      letter.topic,
      letter.partition,
      letter.offset,
      letter.key,
      letter.value,
      letter.error,
      letter.attempts,
    ],
  );
}

export async function pendingDeadLetters(db: pg.ClientBase): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'select count(*)::int as n from dead_letters where replayed_at is null',
  );
  return rows[0]?.n ?? 0;
}

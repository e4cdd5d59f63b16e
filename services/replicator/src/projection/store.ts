/** Offsets and dead letters in the projection database, next to the effects they account for. */
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
 * The partition's next offset, with its row locked until the caller's transaction ends, so that a
 * projector that lost the partition in a rebalance cannot apply a batch at the same time.
 */
export async function lockStoredOffset(
  db: pg.ClientBase,
  groupId: string,
  topic: string,
  partition: number,
): Promise<bigint | undefined> {
  const { rows } = await db.query<{ next_offset: string }>(
    `select next_offset from projection_offsets where group_id = $1 and topic = $2 and partition = $3
     for update`,
    [groupId, topic, partition],
  );
  return rows[0] ? BigInt(rows[0].next_offset) : undefined;
}

export async function storeOffset(
  db: pg.ClientBase,
  groupId: string,
  topic: string,
  partition: number,
  next: bigint,
): Promise<void> {
  await db.query(
    `insert into projection_offsets (group_id, topic, partition, next_offset) values ($1, $2, $3, $4)
     on conflict (group_id, topic, partition) do update set next_offset = excluded.next_offset, updated_at = now()`,
    [groupId, topic, partition, next.toString()],
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

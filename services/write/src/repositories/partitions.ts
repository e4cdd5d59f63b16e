import type pg from 'pg';

export interface PartitionChange {
  action: 'created' | 'dropped';
  partition_name: string;
}

/** Runs the partition maintenance that the schema defines (see pulse_maintain_partitions in the migration). */
export async function maintainPartitions(
  pool: pg.Pool,
  { today, retentionDays, daysAhead }: { today: Date; retentionDays: number; daysAhead: number },
): Promise<PartitionChange[]> {
  const { rows } = await pool.query<PartitionChange>(
    'select * from pulse_maintain_partitions($1::date, $2, $3)',
    [today.toISOString().slice(0, 10), retentionDays, daysAhead],
  );
  return rows;
}

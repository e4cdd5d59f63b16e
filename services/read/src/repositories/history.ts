/**
 * Reads of the write cluster (the primary or one of its streaming replicas): raw samples from
 * system_metrics, the replica's replay lag, and the relay stage from the outbox.
 */
import { onlyRow } from '@pulse/core';
import type pg from 'pg';

export interface RawSample {
  observed_at: string;
  cpu_usage: number;
  memory_usage: number;
  disk_usage: number;
  load_avg: number;
  network_rx_bytes: number;
  network_tx_bytes: number;
  gpu_usage: number | null;
}

export async function ownsService(db: pg.ClientBase, tenantId: string, serviceId: string): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from services where tenant_id = $1 and id = $2', [
    tenantId,
    serviceId,
  ]);
  return rowCount === 1;
}

/** Samples in [from, to) after the cursor, oldest first; the primary key (service_id, observed_at) serves it. */
export async function rawSamples(
  db: pg.ClientBase,
  serviceId: string,
  range: { from: Date; to: Date; after: string | undefined },
  limit: number,
): Promise<RawSample[]> {
  const { rows } = await db.query<RawSample>(
    `select to_json(observed_at) #>> '{}' as observed_at, cpu_usage, memory_usage, disk_usage, load_avg,
            network_rx_bytes::float8 as network_rx_bytes, network_tx_bytes::float8 as network_tx_bytes, gpu_usage
       from system_metrics
      where service_id = $1 and observed_at >= $2 and observed_at < $3
        and ($4::timestamptz is null or observed_at > $4::timestamptz)
      order by observed_at limit $5`,
    [serviceId, range.from, range.to, range.after ?? null, limit],
  );
  return rows;
}

export interface ReplayState {
  /**
   * Whether the replica has replayed all the WAL it received while streaming (or is no replica):
   * its data is then as fresh as the primary's, up to the network's delay.
   */
  caughtUp: boolean;
  /**
   * Seconds since the last replayed transaction committed; 0 when caught up. An upper bound of
   * the staleness only while commits keep coming: after a primary idle for a minute, WAL without
   * commits (autovacuum, a checkpoint) makes it a minute though nothing committed is missing.
   * The router bounds it by the time it last saw the replica caught up.
   */
  lagSeconds: number;
  /** WAL received but not yet replayed. */
  lagBytes: number;
  /** Whether the write transaction with this id (if one was given) is visible here. */
  sees: boolean;
}

export async function replayState(db: pg.ClientBase, txid: string | undefined): Promise<ReplayState> {
  const { rows } = await db.query<ReplayState>(
    `with wal as (
       select pg_is_in_recovery() as recovering,
              pg_last_wal_receive_lsn() as received,
              pg_last_wal_replay_lsn() as replayed,
              pg_last_xact_replay_timestamp() as replayed_at,
              exists (select 1 from pg_stat_wal_receiver where status = 'streaming') as streaming
     ), replay as (
       select *, not recovering or (streaming and received = replayed) as caught_up from wal
     )
     select caught_up as "caughtUp",
            case when caught_up then 0
                 else coalesce(extract(epoch from clock_timestamp() - replayed_at)::float8, 'Infinity') end
              as "lagSeconds",
            coalesce(pg_wal_lsn_diff(received, replayed), 0)::float8 as "lagBytes",
            $1::xid8 is null or pg_visible_in_snapshot($1::xid8, pg_current_snapshot()) as sees
       from replay`,
    [txid ?? null],
  );
  return onlyRow(rows);
}

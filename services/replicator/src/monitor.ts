/**
 * Work that one replicator does for all (the relay leader): the lag and backlog gauges that the
 * operator scales by, missing-heartbeat alerts, and the outbox purge. Reporting backlog from one
 * place gives Prometheus one series per partition instead of one per replica.
 */
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { withTransaction, type Logger } from '@pulse/core';
import type { ProjectionMetrics, RelayMetrics } from './metrics.js';
import { openMissingHeartbeatAlerts } from './projection/heartbeats.js';
import { pendingDeadLetters, storedOffsets } from './projection/store.js';
import { purgePublished, relayState } from './relay/outbox.js';

export interface MonitorOptions {
  writePool: pg.Pool;
  projectionPool: pg.Pool;
  admin: Admin;
  topic: string;
  groupId: string;
  outboxRetentionHours: number;
  relayMetrics: RelayMetrics;
  projectionMetrics: ProjectionMetrics;
  logger: Logger;
}

export async function reportRelayLag(options: MonitorOptions): Promise<void> {
  const state = await relayState(options.writePool);
  options.relayMetrics.lag.set(Math.max(0, state.lagSeconds));
  options.relayMetrics.unpublished.set(state.unpublished);
}

/** Backlog per partition = log-end offset minus the next offset the projection will apply. */
export async function projectionBacklog(
  options: Pick<MonitorOptions, 'admin' | 'projectionPool' | 'topic' | 'groupId'>,
): Promise<Map<number, number>> {
  const ends = await options.admin.fetchTopicOffsets(options.topic);
  const db = await options.projectionPool.connect();
  let stored: Map<number, bigint>;
  try {
    stored = await storedOffsets(db, options.groupId, options.topic);
  } finally {
    db.release();
  }
  return new Map(
    ends.map((end) => {
      const next = stored.get(end.partition) ?? BigInt(end.low);
      const backlog = BigInt(end.high) - next;
      return [end.partition, Number(backlog > 0n ? backlog : 0n)];
    }),
  );
}

export async function runMonitorRound(options: MonitorOptions): Promise<void> {
  await reportRelayLag(options);
  for (const [partition, backlog] of await projectionBacklog(options)) {
    options.projectionMetrics.backlog.set({ partition: String(partition) }, backlog);
  }
  const projection = await options.projectionPool.connect();
  try {
    options.projectionMetrics.deadLettersPending.set(await pendingDeadLetters(projection));
  } finally {
    projection.release();
  }
  const opened = await withTransaction(options.projectionPool, (db) => openMissingHeartbeatAlerts(db));
  if (opened > 0) options.logger.info({ opened }, 'monitor: missing-heartbeat alerts opened');
  const writeDb = await options.writePool.connect();
  try {
    await purgePublished(writeDb, options.outboxRetentionHours);
  } finally {
    writeDb.release();
  }
}

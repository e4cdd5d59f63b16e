/** Periodic upkeep of the write DB: sample partitions ahead and behind, expired idempotency keys. */
import type { Logger } from '@pulse/core';
import type pg from 'pg';
import { purgeIdempotencyKeys } from './repositories/idempotency.js';
import { maintainPartitions } from './repositories/partitions.js';

export interface MaintenanceOptions {
  retentionDays: number;
  daysAhead: number;
  idempotencyTtlHours: number;
}

export async function runMaintenance(
  pool: pg.Pool,
  logger: Logger,
  options: MaintenanceOptions,
): Promise<void> {
  const changes = await maintainPartitions(pool, {
    today: new Date(),
    retentionDays: options.retentionDays,
    daysAhead: options.daysAhead,
  });
  const purged = await purgeIdempotencyKeys(pool, options.idempotencyTtlHours);
  logger.info({ partitions: changes, idempotency_keys_purged: purged }, 'maintenance done');
}

/** Runs maintenance every intervalMs; a failed run is logged and retried at the next tick. */
export function scheduleMaintenance(
  pool: pg.Pool,
  logger: Logger,
  options: MaintenanceOptions,
  intervalMs: number,
): () => void {
  const timer = setInterval(() => {
    runMaintenance(pool, logger, options).catch((error: unknown) => {
      logger.error({ err: error }, 'maintenance failed');
    });
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}

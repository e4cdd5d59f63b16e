/**
 * Rebuilds fill a shadow schema while the live projection keeps serving and applying, then swap it
 * in with one short transaction. Live projectors pick the new offsets up on their next batch: the
 * stored offset is checked on every batch, so they skip or seek back as needed.
 */
import pg from 'pg';
import type { Logger } from '@pulse/core';
import { migrateProjectionDatabase } from '../migrate.js';

export const SHADOW_SCHEMA = 'pulse_rebuild';

/** The same database URL with its sessions' search_path set to one schema. */
export function inSchema(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function withClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'pulse-rebuild' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty copy of the projection schema. */
export async function prepareShadow(databaseUrl: string, logger: Logger): Promise<void> {
  await withClient(databaseUrl, (client) => client.query(`drop schema if exists ${SHADOW_SCHEMA} cascade`));
  await migrateProjectionDatabase(databaseUrl, logger, SHADOW_SCHEMA);
}

export interface SwapOptions {
  liveGroup: string;
  /** The consumer group whose offsets the shadow holds (a rebuild from Kafka uses its own). */
  shadowGroup: string;
}

/** Makes the shadow the live projection; returns the name the replaced schema was kept under. */
export async function swapIn(databaseUrl: string, options: SwapOptions, logger: Logger): Promise<string> {
  const replaced = `pulse_replaced_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  await withClient(databaseUrl, async (client) => {
    await client.query('begin');
    try {
      // Waits for the live projectors' batches in flight and holds off new ones until the swap commits.
      await client.query('lock table public.projection_offsets in access exclusive mode');
      if (options.shadowGroup !== options.liveGroup) {
        await client.query(`delete from ${SHADOW_SCHEMA}.projection_offsets where group_id = $1`, [
          options.liveGroup,
        ]);
        await client.query(
          `update ${SHADOW_SCHEMA}.projection_offsets set group_id = $1 where group_id = $2`,
          [options.liveGroup, options.shadowGroup],
        );
      }
      await client.query(`alter schema public rename to ${replaced}`);
      await client.query(`alter schema ${SHADOW_SCHEMA} rename to public`);
      await client.query('commit');
    } catch (error) {
      await client.query('rollback');
      throw error;
    }
  });
  logger.info({ replaced }, `rebuild swapped in; the old projection is kept as schema ${replaced}`);
  return replaced;
}

#!/usr/bin/env node
/**
 * `pulse-replicator`: operations on the projection.
 *   pulse-replicator migrate                         apply the projection DB schema
 *   pulse-replicator dead-letters list               pending dead letters
 *   pulse-replicator dead-letters replay [--id N]    apply them again after a fix
 *   pulse-replicator rebuild --from kafka|write-db [--timeout SECONDS]
 *                                                    rebuild every projection while writes go on
 *   pulse-replicator verify --tenant ID [--from T] [--to T]
 *                                                    reconcile the projections with the write DB;
 *                                                    prints every difference, exit 1 when any
 * Configuration: the replicator's PULSE_* variables.
 */
import { parseArgs } from 'node:util';
import { ConfigError, createLogger, createPool, createTelemetry } from '@pulse/core';
import pg from 'pg';
import { z } from 'zod';
import { loadReplicatorConfig, type ReplicatorConfig } from './config.js';
import { verifyTenant } from './verify.js';
import { migrateProjectionDatabase } from './migrate.js';
import { listDeadLetters, replayDeadLetters } from './projection/dead-letters.js';
import { rebuildFromKafka } from './rebuild/from-kafka.js';
import { rebuildFromWriteDb } from './rebuild/from-write-db.js';

const USAGE =
  'usage: pulse-replicator migrate | dead-letters list | dead-letters replay [--id N] | rebuild --from kafka|write-db [--timeout SECONDS]';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      id: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      tenant: { type: 'string' },
      timeout: { type: 'string', default: '3600' },
    },
  });
  const config = loadReplicatorConfig();
  const logger = createLogger('pulse-replicator', config.PULSE_LOG_LEVEL);
  const [command, sub] = positionals;
  if (command === 'migrate') {
    await migrateProjectionDatabase(config.PULSE_PROJECTION_DATABASE_URL, logger);
    return 0;
  }
  if (command === 'dead-letters' && (sub === 'list' || sub === 'replay')) {
    if (values.id !== undefined && !/^\d+$/.test(values.id))
      throw new ConfigError(`--id must be a dead letter id, got "${values.id}"`);
    const pool = createPool(config.PULSE_PROJECTION_DATABASE_URL, {
      applicationName: 'pulse-replicator-cli',
      logger,
    });
    try {
      if (sub === 'list') {
        console.log(JSON.stringify(await listDeadLetters(pool), null, 2));
        return 0;
      }
      const report = await replayDeadLetters(pool, logger, values.id);
      console.log(JSON.stringify(report, null, 2));
      return report.stillFailing.length === 0 ? 0 : 1;
    } finally {
      await pool.end();
    }
  }
  if (command === 'rebuild') {
    const timeoutSeconds = Number(values.timeout);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1)
      throw new ConfigError(`--timeout must be a positive integer, got "${values.timeout}"`);
    if (values.from === 'kafka') {
      const replaced = await rebuildFromKafka(
        config,
        logger,
        createTelemetry('rebuild'),
        timeoutSeconds * 1000,
      );
      console.log(`rebuilt from Kafka; the previous projection is kept as schema ${replaced}`);
      return 0;
    }
    if (values.from === 'write-db') {
      const replaced = await rebuildFromWriteDb(config, logger);
      console.log(`rebuilt from the write DB; the previous projection is kept as schema ${replaced}`);
      return 0;
    }
    throw new ConfigError(`--from must be kafka or write-db, got "${values.from ?? ''}"`);
  }
  if (command === 'verify') return verify(config, values);
  throw new ConfigError(USAGE);
}

async function verify(
  config: ReplicatorConfig,
  options: { tenant?: string; from?: string; to?: string },
): Promise<number> {
  const scope = verifyScopeSchema.safeParse(options);
  if (!scope.success)
    throw new ConfigError(
      `verify: ${scope.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const writeDb = new pg.Client({ connectionString: config.PULSE_WRITE_DATABASE_URL });
  const projectionDb = new pg.Client({ connectionString: config.PULSE_PROJECTION_DATABASE_URL });
  await writeDb.connect();
  await projectionDb.connect();
  try {
    const { tenant: tenantId, from, to } = scope.data;
    const differences = await verifyTenant(writeDb, projectionDb, { tenantId, from, to });
    for (const difference of differences) console.log(JSON.stringify(difference));
    console.log(`${differences.length} differences`);
    return differences.length === 0 ? 0 : 1;
  } finally {
    await writeDb.end();
    await projectionDb.end();
  }
}

const verifyScopeSchema = z.object({
  tenant: z.uuid(),
  from: z.iso
    .datetime({ offset: true })
    .default('1970-01-01T00:00:00Z')
    .transform((t) => new Date(t)),
  to: z.iso
    .datetime({ offset: true })
    .default('9999-01-01T00:00:00Z')
    .transform((t) => new Date(t)),
});

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);

/** Applies a database's SQL migrations with node-pg-migrate; its advisory lock makes concurrent starts take turns. */
import { runner } from 'node-pg-migrate';
import type { Logger } from 'pino';

export interface MigrationOptions {
  databaseUrl: string;
  /** A folder of `<timestamp>_<name>.sql` files with `-- Up Migration` / `-- Down Migration` parts. */
  dir: string;
  logger: Logger;
  /** Migrate this schema (created when missing) instead of public, e.g. a projection being rebuilt. */
  schema?: string;
}

export async function runMigrations({
  databaseUrl,
  dir,
  logger,
  schema,
}: MigrationOptions): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    ...(schema ? { schema, createSchema: true } : {}),
    // Replicas starting together wait for the one migrating instead of failing.
    advisoryLockMode: 'wait',
    log: (message) => {
      logger.debug({ migration: message }, 'migration');
    },
  });
  const names = applied.map((migration) => migration.name);
  if (names.length > 0) logger.info({ migrations: names, dir }, 'migrations applied');
  return names;
}

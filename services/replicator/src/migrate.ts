import { fileURLToPath } from 'node:url';
import { runMigrations, type Logger } from '@pulse/core';

export const PROJECTION_MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export const migrateProjectionDatabase = (
  databaseUrl: string,
  logger: Logger,
  schema?: string,
): Promise<string[]> =>
  runMigrations({ databaseUrl, dir: PROJECTION_MIGRATIONS_DIR, logger, ...(schema ? { schema } : {}) });

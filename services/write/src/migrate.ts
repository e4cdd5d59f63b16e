import { fileURLToPath } from 'node:url';
import { runMigrations, type Logger } from '@pulse/core';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** Applies the write DB schema (at service start and by `pulse migrate`). */
export const migrateWriteDatabase = (databaseUrl: string, logger: Logger): Promise<string[]> =>
  runMigrations({ databaseUrl, dir: MIGRATIONS_DIR, logger });

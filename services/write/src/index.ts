export { createWriteApp, type WriteAppOptions } from './app.js';
export { migrateWriteDatabase, MIGRATIONS_DIR } from './migrate.js';
export { writeConfigSchema, type WriteConfig } from './config.js';

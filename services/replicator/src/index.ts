export * from './config.js';
export * from './replicator.js';
export * from './projection/fold.js';
export * from './projection/apply.js';
export * from './projection/store.js';
export * from './monitor.js';
export { migrateProjectionDatabase } from './migrate.js';
export { purgePublished, relayState, type PurgeLimit, type RelayState } from './relay/outbox.js';

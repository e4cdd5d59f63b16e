export * from './events.js';
export * from './position.js';
export * from './config.js';
export * from './db.js';
export * from './logger.js';
export * from './telemetry.js';
export * from './http.js';
export * from './routes.js';

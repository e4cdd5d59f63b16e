export { createReadApp, type ReadAppOptions } from './app.js';
export { readConfigSchema, type ReadConfig } from './config.js';
export { HistoryRouter } from './history-router.js';

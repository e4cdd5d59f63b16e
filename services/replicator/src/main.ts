/** The replicator process: relay candidate + projector, with /metrics, /livez and /readyz, until SIGTERM. */
import { ConfigError, createHttpApp, createLogger, createTelemetry, serve } from '@pulse/core';
import { loadReplicatorConfig } from './config.js';
import { startReplicator } from './replicator.js';

async function main(): Promise<void> {
  const config = loadReplicatorConfig();
  const logger = createLogger('replicator', config.PULSE_LOG_LEVEL);
  const telemetry = createTelemetry('replicator');
  const replicator = await startReplicator(config, logger, telemetry);
  const http = createHttpApp({
    logger,
    telemetry,
    bodyLimit: '1kb',
    readiness: replicator.readiness,
    openapi: () => ({
      openapi: '3.1.0',
      info: { title: 'Pulse replicator (operational endpoints only)', version: '1' },
      paths: {},
    }),
    mount: () => undefined,
  });
  await serve(http, {
    port: config.PULSE_HTTP_PORT,
    host: config.PULSE_HTTP_HOST,
    logger,
    graceMs: 5_000,
    onClose: async () => {
      await replicator.stop();
      await telemetry.shutdown();
    },
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exit(1);
});

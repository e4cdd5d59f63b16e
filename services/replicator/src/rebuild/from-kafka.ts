/** Rebuild by replaying the topic from its start into the shadow schema with a consumer group of its own. */
import { createPool, type Logger, type Telemetry } from '@pulse/core';
import type { ReplicatorConfig } from '../config.js';
import { createKafka } from '../kafka.js';
import { createProjectionMetrics } from '../metrics.js';
import { Projector } from '../projection/projector.js';
import { storedOffsets } from '../projection/store.js';
import { Wake } from '../wake.js';
import { inSchema, prepareShadow, SHADOW_SCHEMA, swapIn } from './shadow.js';

export async function rebuildFromKafka(
  config: ReplicatorConfig,
  logger: Logger,
  telemetry: Telemetry,
  timeoutMs: number,
): Promise<string> {
  const databaseUrl = config.PULSE_PROJECTION_DATABASE_URL;
  const topic = config.PULSE_KAFKA_TOPIC;
  await prepareShadow(databaseUrl, logger);
  const kafka = createKafka(config.PULSE_KAFKA_BROKERS, 'pulse-rebuild', logger);
  const admin = kafka.admin();
  await admin.connect();
  const pool = createPool(inSchema(databaseUrl, SHADOW_SCHEMA), {
    applicationName: 'pulse-rebuild',
    // One connection per partition applied at once, and one for watching the offsets.
    max: config.PULSE_PROJECTOR_CONCURRENCY + 1,
    logger,
  });
  const group = `${config.PULSE_PROJECTOR_GROUP}-rebuild-${Date.now()}`;
  try {
    // Replay up to the end as it is now; what arrives later the live projectors apply after the swap.
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
    const projector = new Projector({
      kafka,
      pool,
      groupId: group,
      topic,
      maxAttempts: config.PULSE_PROJECTOR_MAX_ATTEMPTS,
      concurrency: config.PULSE_PROJECTOR_CONCURRENCY,
      logger,
      metrics: createProjectionMetrics(telemetry.registry),
      tracer: telemetry.tracer,
    });
    await projector.start();
    const deadline = Date.now() + timeoutMs;
    const tick = new Wake();
    for (;;) {
      const client = await pool.connect();
      const stored = await storedOffsets(client, group, topic).finally(() => {
        client.release();
      });
      const behind = [...ends].filter(([partition, end]) => end > 0n && (stored.get(partition) ?? 0n) < end);
      if (behind.length === 0) break;
      if (Date.now() > deadline)
        throw new Error(`rebuild: ${behind.length} partitions not replayed within ${timeoutMs} ms`);
      await tick.wait(500);
    }
    await projector.stop();
    const replaced = await swapIn(
      databaseUrl,
      { liveGroup: config.PULSE_PROJECTOR_GROUP, shadowGroup: group },
      logger,
    );
    await admin.deleteGroups([group]).catch((error: unknown) => {
      logger.warn({ err: error, group }, 'rebuild: could not delete the replay consumer group');
    });
    return replaced;
  } finally {
    await pool.end();
    await admin.disconnect();
  }
}

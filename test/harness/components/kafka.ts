/** A single-node Kafka broker in KRaft mode (broker and controller in one JVM), from Maven artifacts. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { StackContext, Started } from '../context.js';
import { ManagedProcess } from '../process.js';
import { toolPaths } from '../tools.js';
import { waitFor } from '../wait.js';

const JVM_OPTIONS = [
  '-Xms512M',
  '-Xmx512M',
  '-server',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-Djava.awt.headless=true',
];

function serverProperties(ctx: StackContext, logDir: string): string {
  const { kafka: port, kafkaController: controllerPort } = ctx.ports;
  const properties: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': logDir,
    'num.partitions': 12,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 12,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // Topics are created on purpose, with the configured partition count, never by a typo.
    'auto.create.topics.enable': 'false',
  };
  return (
    Object.entries(properties)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n') + '\n'
  );
}

export function kafkaClient(brokers: string, clientId = 'pulse-harness'): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  });
}

/** Whether the broker answers metadata requests (it is up, or back after a restart). */
export async function kafkaServes(brokers: string): Promise<boolean> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } finally {
    await admin.disconnect();
  }
}

export async function startKafka(ctx: StackContext): Promise<Started> {
  const root = join(ctx.runDir, 'kafka');
  const logDir = join(root, 'data');
  const propertiesFile = join(root, 'server.properties');
  mkdirSync(root, { recursive: true });
  writeFileSync(propertiesFile, serverProperties(ctx, logDir));
  const classpath = `${toolPaths.kafkaLibs}/*`;
  if (!existsSync(join(logDir, 'meta.properties'))) {
    // A cluster id is 16 random bytes in URL-safe base64, as StorageTool's random-uuid prints it.
    // One id in 64 starts with '-': passed as --cluster-id=<id> so it is never taken for an option.
    const clusterId = randomBytes(16).toString('base64url');
    execFileSync(
      'java',
      [
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        `--cluster-id=${clusterId}`,
        '-c',
        propertiesFile,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  }
  const broker = ManagedProcess.start(ctx.runDir, {
    name: 'kafka',
    command: 'java',
    background: true,
    args: [
      ...JVM_OPTIONS,
      `-Dlog4j.configuration=file:${toolPaths.kafkaLog4j}`,
      `-Dkafka.logs.dir=${root}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      propertiesFile,
    ],
  });
  const brokers = `127.0.0.1:${ctx.ports.kafka}`;
  try {
    await waitFor(`kafka to serve metadata on ${brokers}`, () => kafkaServes(brokers), {
      timeoutMs: 90_000,
      intervalMs: 500,
      abortIf: () => broker.exitedError(),
    });
  } catch (error) {
    await broker.stop();
    throw error;
  }
  return { processes: [broker], env: { PULSE_KAFKA_BROKERS: brokers } };
}

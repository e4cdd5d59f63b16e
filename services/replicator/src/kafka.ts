import kafkajs, {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type ICustomPartitioner,
  type Producer,
} from 'kafkajs';
import { LRUCache } from 'lru-cache';
import type { Logger } from '@pulse/core';

// Node's ESM loader finds only some of kafkajs's CommonJS exports by name.
const { ConfigResourceTypes } = kafkajs;

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(brokers: string, clientId: string, logger: Logger): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(','),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, label, log }) => {
        const { message, ...rest } = log;
        logger[LEVELS[level] ?? 'info']({ kafka: label, ...rest }, message);
      },
  });
}

/**
 * The relay's producer: idempotent (the broker drops a retried duplicate), one request in flight
 * so a retry cannot reorder a partition, acknowledged by all in-sync replicas. The Java-compatible
 * partitioner keeps keys on the partitions other Kafka clients would pick.
 */
export function createRelayProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: rememberingPartitioner(Partitioners.DefaultPartitioner),
    retry: { retries: 5 },
  });
}

/**
 * Remembers a partitioner's choice per key and partition count. The Java-compatible partitioner
 * hashes a keyed message with murmur2 in 64-bit arithmetic emulated in JavaScript, a tenth of the
 * relay's encoding time, while the relay sends the same aggregates' keys over and over. The choice
 * depends on nothing else for a keyed message, so remembering it changes no partition.
 */
export function rememberingPartitioner(create: ICustomPartitioner, keys = 100_000): ICustomPartitioner {
  return () => {
    const partition = create();
    const chosen = new LRUCache<string, { partitions: number; partition: number }>({ max: keys });
    return (args) => {
      const { key } = args.message;
      const partitions = args.partitionMetadata.length;
      if (typeof key !== 'string' || args.message.partition !== undefined) return partition(args);
      const known = chosen.get(key);
      if (known?.partitions === partitions) return known.partition;
      const choice = partition(args);
      chosen.set(key, { partitions, partition: choice });
      return choice;
    };
  };
}

/** The broker refuses a record batch above this topic setting (MESSAGE_TOO_LARGE). */
const MAX_MESSAGE_BYTES = 'max.message.bytes';

export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
  maxMessageBytes: number;
}

export async function ensureTopic(admin: Admin, topic: string, settings: TopicSettings): Promise<void> {
  const existing = await admin.listTopics();
  if (existing.includes(topic)) return;
  await admin.createTopics({
    topics: [
      {
        topic,
        numPartitions: settings.partitions,
        replicationFactor: settings.replicationFactor,
        configEntries: [{ name: MAX_MESSAGE_BYTES, value: String(settings.maxMessageBytes) }],
      },
    ],
    waitForLeaders: true,
  });
}

/**
 * The largest record batch the topic accepts, as the broker sees it now: the topic may predate
 * the relay, or an operator may have changed the setting since it was created.
 */
export async function topicMessageLimit(admin: Admin, topic: string): Promise<number> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [MAX_MESSAGE_BYTES] }],
  });
  const value = resources[0]?.configEntries.find(
    (entry) => entry.configName === MAX_MESSAGE_BYTES,
  )?.configValue;
  const limit = Number(value);
  if (!Number.isSafeInteger(limit) || limit <= 0)
    throw new Error(`topic ${topic}: ${MAX_MESSAGE_BYTES} is ${String(value)}, expected a positive integer`);
  return limit;
}

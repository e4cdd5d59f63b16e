/**
 * The event envelope and the payload of every event type: the contract between the write
 * service (which stores events in the outbox), the relay (which publishes them to Kafka, keyed by
 * `aggregate_id`) and the projectors (which apply them). One zod schema per payload is the single
 * source of its validation and its TypeScript type.
 */
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';

export const EVENTS_TOPIC = 'pulse.events';
/** The write DB's NOTIFY channel on which the write service wakes the relay after a commit. */
export const OUTBOX_CHANNEL = 'pulse_outbox';

const percent = z.number().min(0).max(100);
const nonNegativeInteger = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const timestamp = z.iso.datetime({ offset: true });

/**
 * Text that PostgreSQL can store: JSON may carry a lone UTF-16 surrogate (`"\ud800"`), which is
 * valid for JavaScript but not Unicode, and jsonb/text columns reject it at insert time.
 */
export const text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine(
      (value) => !/\p{Surrogate}/u.test(value),
      'must be well-formed Unicode (it holds a lone surrogate)',
    );

export const systemSampleSchema = z.object({
  observed_at: timestamp,
  cpu_usage: percent,
  memory_usage: percent,
  disk_usage: percent,
  load_avg: z.number().min(0),
  network_rx_bytes: nonNegativeInteger,
  network_tx_bytes: nonNegativeInteger,
  gpu_usage: percent.optional(),
});
export type SystemSample = z.infer<typeof systemSampleSchema>;

export const processSampleSchema = z.object({
  process_name: text(1, 256),
  pid: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  // A multi-threaded process can exceed 100 % of one core.
  cpu_usage: z
    .number()
    .min(0)
    .max(100 * 1024),
  memory_usage: percent,
});
export type ProcessSample = z.infer<typeof processSampleSchema>;

export const alertRulesSchema = z.object({
  cpu_usage_above: percent,
  memory_usage_above: percent,
  disk_usage_above: percent,
  heartbeat_missing_seconds: z.number().int().min(5).max(86_400),
});
export type AlertRules = z.infer<typeof alertRulesSchema>;
export const DEFAULT_ALERT_RULES: AlertRules = {
  cpu_usage_above: 90,
  memory_usage_above: 90,
  disk_usage_above: 95,
  heartbeat_missing_seconds: 60,
};

export const eventPayloadSchemas = {
  'service.registered': z.object({
    name: z.string(),
    hostname: z.string(),
    os: z.string().nullable(),
    version: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    registered_at: timestamp,
  }),
  'service.heartbeat': z.object({ observed_at: timestamp }),
  'metrics.system.recorded': z.object({ samples: z.array(systemSampleSchema).min(1) }),
  'metrics.process.recorded': z.object({ observed_at: timestamp, processes: z.array(processSampleSchema) }),
  /** aggregate_id is the tenant id: a tenant's rule changes stay in order on one partition. */
  'tenant.alert_rules.updated': z.object({ rules: alertRulesSchema }),
} as const;

export type EventType = keyof typeof eventPayloadSchemas;
export const EVENT_TYPES = Object.keys(eventPayloadSchemas) as EventType[];
export type EventPayload<T extends EventType> = z.infer<(typeof eventPayloadSchemas)[T]>;

export const envelopeSchema = z.object({
  id: z.uuid(),
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  version: z.number().int().min(1),
  tenant_id: z.uuid(),
  aggregate_id: z.uuid(),
  occurred_at: timestamp,
  recorded_at: timestamp,
  /** The write transaction's id; with the event count it forms the position token of a command. */
  position: z.string().regex(/^\d+$/),
  traceparent: z.string().nullable(),
  payload: z.unknown(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

export type TypedEnvelope<T extends EventType> = Omit<Envelope, 'type' | 'payload'> & {
  type: T;
  payload: EventPayload<T>;
};
export type AnyEvent = { [T in EventType]: TypedEnvelope<T> }[EventType];

export const EVENT_VERSION = 1;

/** Event ids are UUIDv7: time-ordered, so outbox and dedupe indexes stay append-mostly. */
export const newEventId = (): string => uuidv7();

/** Parses an envelope and its payload; throws a ZodError naming the field when either is wrong. */
export function parseEvent(raw: unknown): AnyEvent {
  const envelope = envelopeSchema.parse(raw);
  const payload = eventPayloadSchemas[envelope.type].parse(envelope.payload);
  return { ...envelope, payload } as AnyEvent;
}

/**
 * The request and response bodies of the write API. Each zod schema is the one source of the
 * payload's validation, its TypeScript type and its OpenAPI entry. The sample schemas come from
 * the event contract in @pulse/core, so what the API accepts is what the events carry.
 */
import {
  alertRulesSchema,
  problemSchema,
  processSampleSchema,
  SCOPES,
  systemSampleSchema,
  text,
} from '@pulse/core';
import { z } from 'zod';

export const MAX_BATCH_SAMPLES = 5_000;
export const MAX_PROCESSES = 10_000;
/** Clocks drift: a sample may claim to be this far in the future. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

/**
 * The times a sample may carry: from the start of the oldest UTC day that retention keeps (the
 * partition that would hold anything older has been dropped) to a little after now.
 */
export function sampleTimeWindow(
  nowMs: number,
  retentionDays: number,
): { earliestMs: number; latestMs: number } {
  const startOfToday = Math.floor(nowMs / DAY_MS) * DAY_MS;
  return { earliestMs: startOfToday - retentionDays * DAY_MS, latestMs: nowMs + MAX_CLOCK_SKEW_MS };
}

export interface SchemaOptions {
  retentionDays: number;
  now?: () => number;
}

export function writeSchemas({ retentionDays, now = Date.now }: SchemaOptions) {
  const observedAt = z.iso.datetime({ offset: true }).superRefine((value, ctx) => {
    const { earliestMs, latestMs } = sampleTimeWindow(now(), retentionDays);
    const time = Date.parse(value);
    if (time > latestMs) ctx.addIssue({ code: 'custom', message: 'is more than 5 minutes in the future' });
    if (time < earliestMs) {
      ctx.addIssue({ code: 'custom', message: `is older than the retention of ${retentionDays} days` });
    }
  });
  const serviceId = z.uuid();
  const label = text(1, 200);

  const systemSample = systemSampleSchema
    .extend({ service_id: serviceId, observed_at: observedAt })
    .meta({ id: 'SystemSample' });
  const processList = z
    .array(processSampleSchema)
    .max(MAX_PROCESSES)
    .superRefine((processes, ctx) => {
      const seen = new Set<number>();
      processes.forEach((process, index) => {
        if (seen.has(process.pid))
          ctx.addIssue({ code: 'custom', path: [index, 'pid'], message: 'is listed twice' });
        seen.add(process.pid);
      });
    });

  return {
    registerService: z
      .object({
        name: label,
        hostname: text(1, 255),
        os: text(1, 100).optional(),
        version: text(1, 100).optional(),
        labels: z
          .record(text(1, 100), text(0, 500))
          .refine((labels) => Object.keys(labels).length <= 64, 'has more than 64 labels')
          .optional(),
      })
      .meta({ id: 'RegisterService' }),
    // The body is optional: an empty POST records a heartbeat at the server's time.
    heartbeat: z.object({ observed_at: observedAt.optional() }).optional().meta({ id: 'Heartbeat' }),
    systemSample,
    systemBatch: z
      .object({ samples: z.array(systemSample).min(1).max(MAX_BATCH_SAMPLES) })
      .meta({ id: 'SystemSampleBatch' }),
    processSamples: z
      .object({ service_id: serviceId, observed_at: observedAt, processes: processList })
      .meta({ id: 'ProcessSamples' }),
    createTenant: z
      .object({
        name: z
          .string()
          .min(1)
          .max(200)
          .regex(/^[\w.-]+$/, 'may only hold letters, digits, _ . and -'),
      })
      .meta({ id: 'CreateTenant' }),
    issueKey: z
      .object({ name: label, scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length) })
      .meta({ id: 'IssueApiKey' }),
    alertRules: alertRulesSchema.meta({ id: 'AlertRules' }),
  };
}

export type WriteSchemas = ReturnType<typeof writeSchemas>;

export const params = {
  serviceId: z.object({ id: z.uuid() }),
  tenantId: z.object({ tenant_id: z.uuid() }),
  apiKey: z.object({ tenant_id: z.uuid(), key_id: z.uuid() }),
};

const position = z
  .string()
  .meta({ description: 'Position token `<txid>.<events>`; also in X-Pulse-Position' });

export const responses = {
  position: z.object({ position }).meta({ id: 'Accepted' }),
  registered: z.object({ id: z.uuid(), position }).meta({ id: 'ServiceRegistered' }),
  batch: z.object({ accepted: z.number().int(), position }).meta({ id: 'BatchAccepted' }),
  tenant: z.object({ id: z.uuid(), name: z.string(), created_at: z.string() }).meta({ id: 'Tenant' }),
  issuedKey: z
    .object({
      id: z.uuid(),
      tenant_id: z.uuid(),
      name: z.string(),
      scopes: z.array(z.enum(SCOPES)),
      key: z.string().meta({ description: 'The secret; shown only in this response' }),
      created_at: z.string(),
    })
    .meta({ id: 'IssuedApiKey' }),
  alertRules: z.object({ rules: alertRulesSchema, position }).meta({ id: 'AlertRulesUpdated' }),
  problem: problemSchema,
};

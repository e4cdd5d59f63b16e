/**
 * The zod schema of `ReplicationLag.spec`. The API server has already applied the CRD's defaults
 * and rules to what the controller reads, but a resource written before a schema change, or
 * served by an API server without CEL, may still be invalid: the controller parses every spec with
 * this schema and reports a bad one in a condition instead of acting on it.
 */
import { z } from 'zod';

import {
  CEL_RULES,
  PROMETHEUS_ADDRESS_PATTERN,
  PROMETHEUS_QUERY_NAMES,
  RESOURCE_NAME_PATTERN,
  SCALE_TARGET_API_VERSIONS,
  SCALE_TARGET_KINDS,
  SCALING_POLICY_TYPES,
  SELECT_POLICIES,
  SPEC_BOUNDS,
  SPEC_DEFAULTS,
  type CelRule,
  type ScalingRulesDefaults,
} from './constants.js';

/** The zod side of a CEL rule: its message, at its field. */
function zodIssue(rule: CelRule): { message: string; path: string[] } {
  return { message: rule.message, path: rule.fieldPath.split('.').filter((part) => part !== '') };
}

const scalingPolicySchema = z.object({
  type: z.enum(SCALING_POLICY_TYPES),
  value: z.int().min(SPEC_BOUNDS.policyValue.min),
  periodSeconds: z.int().min(SPEC_BOUNDS.periodSeconds.min).max(SPEC_BOUNDS.periodSeconds.max),
});

function scalingRulesSchema(defaults: ScalingRulesDefaults) {
  return z.object({
    stabilizationWindowSeconds: z
      .int()
      .min(SPEC_BOUNDS.stabilizationWindowSeconds.min)
      .max(SPEC_BOUNDS.stabilizationWindowSeconds.max)
      .default(defaults.stabilizationWindowSeconds),
    policies: z
      .array(scalingPolicySchema)
      .min(SPEC_BOUNDS.policies.min)
      .max(SPEC_BOUNDS.policies.max)
      // A fresh copy each time, so that no parsed spec shares (and can mutate) the defaults.
      .default(() => defaults.policies.map((policy) => ({ ...policy }))),
    selectPolicy: z.enum(SELECT_POLICIES).default(defaults.selectPolicy),
  });
}

const queriesShape = Object.fromEntries(
  PROMETHEUS_QUERY_NAMES.map((name) => [
    name,
    z.string().min(SPEC_BOUNDS.query.min).max(SPEC_BOUNDS.query.max).optional(),
  ]),
) as Record<(typeof PROMETHEUS_QUERY_NAMES)[number], z.ZodOptional<z.ZodString>>;

const { scaleUp, scaleDown } = SPEC_DEFAULTS.behavior;

export const replicationLagSpecSchema = z
  .object({
    scaleTargetRef: z.object({
      apiVersion: z.enum(SCALE_TARGET_API_VERSIONS).default(SPEC_DEFAULTS.scaleTargetRef.apiVersion),
      kind: z.enum(SCALE_TARGET_KINDS).default(SPEC_DEFAULTS.scaleTargetRef.kind),
      name: z
        .string()
        .min(SPEC_BOUNDS.name.min)
        .max(SPEC_BOUNDS.name.max)
        .regex(new RegExp(RESOURCE_NAME_PATTERN)),
    }),
    prometheus: z.object({
      address: z
        .string()
        .min(SPEC_BOUNDS.address.min)
        .max(SPEC_BOUNDS.address.max)
        .regex(new RegExp(PROMETHEUS_ADDRESS_PATTERN)),
      queries: z.object(queriesShape).optional(),
    }),
    targetLagSeconds: z
      .number()
      .min(SPEC_BOUNDS.targetLagSeconds.min)
      .max(SPEC_BOUNDS.targetLagSeconds.max)
      .default(SPEC_DEFAULTS.targetLagSeconds),
    minReplicas: z.int().min(SPEC_BOUNDS.replicas.min).default(SPEC_DEFAULTS.minReplicas),
    maxReplicas: z.int().min(SPEC_BOUNDS.replicas.min),
    partitions: z.int().min(SPEC_BOUNDS.partitions.min).optional(),
    // prefault({}) rather than default({}): like the API server, it fills the nested defaults in.
    behavior: z
      .object({
        scaleUp: scalingRulesSchema(scaleUp).prefault({}),
        scaleDown: scalingRulesSchema(scaleDown)
          .refine(
            (rules) => rules.policies.every((policy) => policy.type !== 'Percent' || policy.value <= 100),
            zodIssue(CEL_RULES.scaleDownPercentAtMost100),
          )
          .prefault({}),
      })
      .prefault({}),
    tolerance: z
      .number()
      .min(SPEC_BOUNDS.tolerance.min)
      .max(SPEC_BOUNDS.tolerance.max)
      .default(SPEC_DEFAULTS.tolerance),
    pollIntervalSeconds: z
      .int()
      .min(SPEC_BOUNDS.pollIntervalSeconds.min)
      .max(SPEC_BOUNDS.pollIntervalSeconds.max)
      .default(SPEC_DEFAULTS.pollIntervalSeconds),
  })
  .refine((spec) => spec.minReplicas <= spec.maxReplicas, zodIssue(CEL_RULES.minNotAboveMax))
  .refine(
    (spec) => spec.partitions === undefined || spec.minReplicas <= spec.partitions,
    zodIssue(CEL_RULES.minNotAbovePartitions),
  );

/** The spec as written in a manifest: every defaulted field may be left out. */
export type ReplicationLagSpecInput = z.input<typeof replicationLagSpecSchema>;
/** The spec with every default applied, what the controller and the policy work with. */
export type ReplicationLagSpec = z.output<typeof replicationLagSpecSchema>;
export type ScalingBehavior = ReplicationLagSpec['behavior'];
export type ScalingRules = ScalingBehavior['scaleUp'];
export type ScalingPolicy = ScalingRules['policies'][number];

export type SpecParseResult = { ok: true; spec: ReplicationLagSpec } | { ok: false; error: string };

/** Validates a spec and applies its defaults; a failure names every offending field. */
export function parseReplicationLagSpec(raw: unknown): SpecParseResult {
  const result = replicationLagSpecSchema.safeParse(raw);
  return result.success
    ? { ok: true, spec: result.data }
    : { ok: false, error: z.prettifyError(result.error) };
}

/** Builders shared by the operator's tests. */
import {
  parseReplicationLagSpec,
  type ReplicationLagSpec,
  type ReplicationLagSpecInput,
} from '../src/api/spec.js';

/** The fields every spec needs; everything else defaults. */
export const MINIMAL_SPEC = {
  scaleTargetRef: { name: 'replicator' },
  prometheus: { address: 'http://prometheus:9090' },
  maxReplicas: 12,
} as const satisfies ReplicationLagSpecInput;

/** A valid spec with its defaults applied; throws with the zod message when `overrides` are invalid. */
export function specWith(overrides: Partial<ReplicationLagSpecInput> = {}): ReplicationLagSpec {
  const result = parseReplicationLagSpec({ ...MINIMAL_SPEC, ...overrides });
  if (!result.ok) throw new Error(result.error);
  return result.spec;
}

export const NOW = Date.parse('2025-01-01T00:00:00Z');

/** `NOW` moved by `seconds`, the unit every window and period of the spec is in. */
export const at = (seconds: number): number => NOW + seconds * 1000;

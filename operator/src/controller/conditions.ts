/**
 * metav1.Condition bookkeeping: a condition's lastTransitionTime moves only when its status flips,
 * so that "since when" stays true across the many polls that rewrite the same condition.
 */
import type { ConditionType } from '../api/constants.js';
import type { Condition } from '../api/types.js';

export type ConditionUpdate = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/**
 * The conditions to write: each update, stamped with `generation` and with the previous
 * transition time when its status is unchanged. Conditions not updated are kept as they were, so a
 * reconcile that only learns about Ready (say, an invalid spec) does not erase the others.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  updates: readonly ConditionUpdate[],
  generation: number | undefined,
  now: Date,
): Condition[] {
  const byType = new Map<ConditionType, Condition>((previous ?? []).map((c) => [c.type, c]));
  for (const update of updates) {
    const before = byType.get(update.type);
    byType.set(update.type, {
      ...update,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime:
        before !== undefined && before.status === update.status
          ? before.lastTransitionTime
          : now.toISOString(),
    });
  }
  return [...byType.values()];
}

/** The condition of `type`, if present. */
export const findCondition = (conditions: readonly Condition[] | undefined, type: ConditionType) =>
  conditions?.find((condition) => condition.type === type);

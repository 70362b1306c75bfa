import type { Condition, ConditionStatus } from '../kube/types.ts';

/**
 * Returns the conditions with `type` set to the given status, reason and message. The transition
 * time changes only when the status does, as Kubernetes API conventions ask.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: { type: string; status: ConditionStatus; reason: string; message: string },
  observedGeneration: number | undefined,
  now: Date,
): Condition[] {
  const current = conditions?.find((condition) => condition.type === next.type);
  const transitioned = current === undefined || current.status !== next.status;
  const updated: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    lastTransitionTime: transitioned ? now.toISOString() : current.lastTransitionTime,
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  const others = (conditions ?? []).filter((condition) => condition.type !== next.type);
  return [...others, updated].sort((a, b) => a.type.localeCompare(b.type));
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

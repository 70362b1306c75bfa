/**
 * The kstatus rules for custom resources, as documented for sigs.k8s.io/cli-utils/pkg/kstatus
 * in its README and status.Compute. Flux health checks use kstatus. The Argo CD health script
 * in docs/gitops applies the same rules, so tests can check what both tools will report.
 *
 * In order, the first rule that matches decides:
 * 1. metadata.deletionTimestamp is set: Terminating.
 * 2. status.observedGeneration is present and differs from metadata.generation: InProgress.
 * 3. A condition Reconciling=True: InProgress. A condition Stalled=True: Failed. kstatus takes
 *    whichever of the two comes first in status.conditions.
 * 4. A Ready condition (the README's rule for resources without the two conditions above):
 *    True is Current, False is InProgress. Unknown falls through to the next rule.
 * 5. Otherwise: Current, because kstatus treats the absence of these conditions as normal.
 *
 * NOTE: the one version of cli-utils' status.Compute read for this has no Ready rule and returns
 * Current instead of rule 4. The operator sets Reconciling or Stalled whenever Ready is
 * False, except on a paused resource, so both readings agree on its resources.
 */

/** A kstatus result status. NotFound and Unknown are not computed from an object. */
export type KstatusStatus = 'Current' | 'InProgress' | 'Failed' | 'Terminating';

export interface KstatusResult {
  status: KstatusStatus;
  /** The message of the condition that decided, or a description of the rule. */
  message: string;
}

/** The fields of a Kubernetes object that kstatus reads. */
export interface KstatusObject {
  kind?: string;
  metadata?: { generation?: number; deletionTimestamp?: string | Date };
  status?: {
    observedGeneration?: number;
    conditions?: ReadonlyArray<{ type: string; status: string; message?: string }>;
  };
}

/** Computes the kstatus status of a custom resource from the object alone. */
export function computeKstatus(object: KstatusObject): KstatusResult {
  if (object.metadata?.deletionTimestamp) {
    return { status: 'Terminating', message: 'Resource scheduled for deletion' };
  }

  const generation = object.metadata?.generation;
  const observedGeneration = object.status?.observedGeneration;
  if (
    generation !== undefined &&
    observedGeneration !== undefined &&
    observedGeneration !== generation
  ) {
    return {
      status: 'InProgress',
      message:
        `${object.kind ?? 'resource'} generation is ${generation}, but latest observed ` +
        `generation is ${observedGeneration}`,
    };
  }

  const conditions = object.status?.conditions ?? [];
  for (const condition of conditions) {
    if (condition.type === 'Reconciling' && condition.status === 'True') {
      return { status: 'InProgress', message: condition.message ?? '' };
    }
    if (condition.type === 'Stalled' && condition.status === 'True') {
      return { status: 'Failed', message: condition.message ?? '' };
    }
  }

  const ready = conditions.find((condition) => condition.type === 'Ready');
  if (ready?.status === 'True') return { status: 'Current', message: ready.message ?? '' };
  if (ready?.status === 'False') return { status: 'InProgress', message: ready.message ?? '' };

  return { status: 'Current', message: 'Resource is current' };
}

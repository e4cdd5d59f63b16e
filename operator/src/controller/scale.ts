/**
 * The scale phase of a reconcile: the target's replica count through the Deployment's scale
 * subresource, the only part of the Deployment the operator may touch.
 */
import type { AppsV1Api } from '@kubernetes/client-node';
import { mergePatch } from './kube.js';

export interface TargetScale {
  /** spec.replicas: what the target is set to, the policy's current count. */
  replicas: number;
  /** status.replicas: the pods that exist, what the status reports as current. */
  observedReplicas: number;
  /** For the conditional update that follows. */
  resourceVersion: string | undefined;
}

export async function readScale(apps: AppsV1Api, namespace: string, name: string): Promise<TargetScale> {
  const scale = await apps.readNamespacedDeploymentScale({ name, namespace });
  const replicas = scale.spec?.replicas ?? 0;
  return {
    replicas,
    observedReplicas: scale.status?.replicas ?? replicas,
    resourceVersion: scale.metadata?.resourceVersion,
  };
}

/**
 * Sets the replica count only if nobody changed the scale since `read` (the resourceVersion makes
 * the patch conditional; a 409 means the decision was made on stale data and the next poll redoes
 * it).
 */
export async function writeScale(
  apps: AppsV1Api,
  namespace: string,
  name: string,
  read: TargetScale,
  replicas: number,
): Promise<void> {
  await apps.patchNamespacedDeploymentScale(
    {
      name,
      namespace,
      body: {
        ...(read.resourceVersion === undefined
          ? {}
          : { metadata: { resourceVersion: read.resourceVersion } }),
        spec: { replicas },
      },
    },
    mergePatch,
  );
}

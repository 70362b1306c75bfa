/**
 * Reads, writes and waits on ServiceAccount resources, and creates and reads Tenants, through
 * the API server, for the end-to-end and integration tests.
 */
import { ApiException, type CustomObjectsApi } from '@kubernetes/client-node';
import {
  group,
  reconcileNowAnnotation,
  type ServiceAccount,
  serviceAccountPlural,
  type Tenant,
  tenantPlural,
  version,
} from '../../src/kube/types.ts';
import { waitFor } from './wait.ts';

export function resourceBody(
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
) {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'ServiceAccount',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec,
  };
}

export async function createResource(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<ServiceAccount> {
  return api.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    body: resourceBody(name, spec),
    fieldValidation: 'Strict',
  });
}

export async function getResource(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<ServiceAccount> {
  return api.getNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    name,
  });
}

export async function listResources(
  api: CustomObjectsApi,
  namespace?: string,
): Promise<ServiceAccount[]> {
  const list = (
    namespace === undefined
      ? await api.listClusterCustomObject({ group, version, plural: serviceAccountPlural })
      : await api.listNamespacedCustomObject({
          group,
          version,
          namespace,
          plural: serviceAccountPlural,
        })
  ) as { items: ServiceAccount[] };
  return list.items;
}

/** Applies a JSON patch (RFC 6902) and returns the resulting generation. */
export async function patchResource(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
  operations: Array<{ op: string; path: string; value?: unknown }>,
): Promise<number> {
  const patched: ServiceAccount = await api.patchNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    name,
    body: operations,
  });
  return patched.metadata.generation!;
}

/** Sets the reconcile-now annotation to a new value, so the operator reconciles at once. */
export async function requestReconcile(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
  marker: string,
): Promise<void> {
  const escaped = reconcileNowAnnotation.replace('/', '~1');
  const resource = await getResource(api, namespace, name);
  const operations = resource.metadata.annotations
    ? [{ op: 'add', path: `/metadata/annotations/${escaped}`, value: marker }]
    : [{ op: 'add', path: '/metadata/annotations', value: { [reconcileNowAnnotation]: marker } }];
  await patchResource(api, namespace, name, operations);
}

export async function deleteResource(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<void> {
  await api.deleteNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    name,
  });
}

export async function isGone(api: CustomObjectsApi, namespace: string, name: string) {
  try {
    await getResource(api, namespace, name);
    return false;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return true;
    throw error;
  }
}

export function condition(resource: ServiceAccount, type: string) {
  return resource.status?.conditions?.find((entry) => entry.type === type);
}

/** Ready=True with the current generation observed. */
export function isConverged(resource: ServiceAccount): boolean {
  return (
    condition(resource, 'Ready')?.status === 'True' &&
    resource.status?.observedGeneration === resource.metadata.generation
  );
}

export async function waitConverged(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
  timeoutMs = 90_000,
): Promise<ServiceAccount> {
  let last: ServiceAccount | undefined;
  try {
    return await waitFor(
      `${namespace}/${name} to be Ready at its current generation`,
      async () => {
        last = await getResource(api, namespace, name);
        return isConverged(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    const state = JSON.stringify({ spec: last?.spec, status: last?.status });
    throw new Error(`${(error as Error).message}; last seen: ${state}`);
  }
}

export async function waitReason(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
  reason: string,
  timeoutMs = 60_000,
): Promise<ServiceAccount> {
  return waitFor(
    `${namespace}/${name} to report Ready reason ${reason}`,
    async () => {
      const resource = await getResource(api, namespace, name);
      return condition(resource, 'Ready')?.reason === reason ? resource : undefined;
    },
    timeoutMs,
  );
}

export { createTenant } from '../../src/kube/client.ts';

export async function getTenant(api: CustomObjectsApi, name: string): Promise<Tenant> {
  return api.getClusterCustomObject({ group, version, plural: tenantPlural, name });
}

// The benchmarks' side of Kubernetes: a local API server with the CRDs, the csv-mode Tenant, and
// creating and counting ServiceAccounts.

import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { type LocalCluster, startLocalCluster } from '../src/envtest/index.ts';
import { createTenant, loadKubeConfig } from '../src/kube/client.ts';
import { installCrds } from '../src/kube/crds.ts';
import { group, serviceAccountPlural, version } from '../src/kube/types.ts';

/** The Tenant resource of every csv-mode run (each run has an API server of its own). */
export const csvTenantName = 'bench-csv';

/** One local kube-apiserver and the clients the harness uses on it. */
export interface Kube {
  cluster: LocalCluster;
  customObjects: CustomObjectsApi;
  core: CoreV1Api;
}

export async function startKube(): Promise<Kube> {
  const cluster = await startLocalCluster();
  const kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  await installCrds(kubeConfig);
  return {
    cluster,
    customObjects: kubeConfig.makeApiClient(CustomObjectsApi),
    core: kubeConfig.makeApiClient(CoreV1Api),
  };
}

/**
 * Creates the csv-mode Tenant with the production defaults (batch window, delete guard) and its
 * credentials Secret in the benchmark's namespace.
 */
export async function createCsvTenant(
  kube: Kube,
  namespace: string,
  baseUrl: string,
  credentials: { clientId: string; clientSecret: string },
): Promise<void> {
  await kube.core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'isc-credentials' }, stringData: credentials },
  });
  await createTenant(kube.customObjects, csvTenantName, {
    baseUrl,
    credentialsSecretRef: { namespace, name: 'isc-credentials' },
    syncMode: 'csv',
  });
}

export async function createResources(
  kube: Kube,
  namespace: string,
  n: number,
  tenantName: string | undefined,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const suffix = String(i).padStart(5, '0');
      await kube.customObjects.createNamespacedCustomObject({
        group,
        version,
        namespace,
        plural: serviceAccountPlural,
        body: {
          apiVersion: `${group}/${version}`,
          kind: 'ServiceAccount',
          metadata: { name: `svc-${suffix}` },
          spec: {
            accountId: `BENCH-${suffix}`,
            email: `svc-${suffix}@example.com`,
            purpose: 'benchmark',
            ...(tenantName ? { tenantRef: { name: tenantName } } : {}),
          },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Counts the resources that are not Ready, by Ready reason (`None` before the first status). */
export async function countNotReady(
  kube: Kube,
  namespace: string,
): Promise<Record<string, number>> {
  const byReason: Record<string, number> = {};
  let continueToken: string | undefined;
  do {
    const page = (await kube.customObjects.listNamespacedCustomObject({
      group,
      version,
      namespace,
      plural: serviceAccountPlural,
      limit: 500,
      ...(continueToken ? { _continue: continueToken } : {}),
    })) as {
      items: Array<{
        status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
      }>;
      metadata?: { continue?: string };
    };
    for (const item of page.items) {
      const ready = item.status?.conditions?.find((condition) => condition.type === 'Ready');
      if (ready?.status === 'True') continue;
      const reason = ready?.reason ?? 'None';
      byReason[reason] = (byReason[reason] ?? 0) + 1;
    }
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return byReason;
}

/**
 * Cluster setup of the end-to-end tests that run the operator as its own process with the
 * cluster admin's kubeconfig. It starts a local kube-apiserver with the CRDs installed, creates
 * the namespaces a test needs and stores the ISC credentials as Secrets, all on 127.0.0.1.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { installCrds } from '../../src/kube/crds.ts';

/** Namespace of the credentials Secrets that Tenants and the operator's settings name. */
export const credentialsNamespace = 'isc-system';

export interface E2eCluster {
  cluster: LocalCluster;
  kubeConfig: KubeConfig;
  customObjects: CustomObjectsApi;
  core: CoreV1Api;
}

/**
 * Starts a local cluster and installs the CRDs. Creates the namespace isc-system, then
 * `namespaces`, and stores each entry of `credentials` in isc-system as a Secret of that name
 * with the keys clientId and clientSecret.
 */
export async function startE2eCluster(
  credentials: Record<string, { clientId: string; clientSecret: string }>,
  namespaces: readonly string[] = [],
): Promise<E2eCluster> {
  const cluster = await startLocalCluster();
  const kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  const customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(kubeConfig);
  for (const name of [credentialsNamespace, ...namespaces]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  for (const [name, credential] of Object.entries(credentials)) {
    await core.createNamespacedSecret({
      namespace: credentialsNamespace,
      body: {
        metadata: { name },
        stringData: { clientId: credential.clientId, clientSecret: credential.clientSecret },
      },
    });
  }
  return { cluster, kubeConfig, customObjects, core };
}

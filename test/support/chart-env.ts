/** Helpers the chart end-to-end tests share: credentials of the chart's account, its env. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiException, AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';

/**
 * Writes a kubeconfig into `directory` that authenticates with a TokenRequest token of the
 * ServiceAccount namespace/name, so that its holder is bound by the chart's RBAC only, and
 * returns the file's path. The token expires after `expirationSeconds`.
 */
export async function writeServiceAccountKubeconfig(
  admin: KubeConfig,
  directory: string,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<string> {
  const request = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = request.status?.token;
  assert.ok(token, `TokenRequest for ${namespace}/${name} returned no token`);

  const apiServer = admin.getCurrentCluster()!;
  const contents = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'envtest',
        cluster: { server: apiServer.server, 'certificate-authority-data': apiServer.caData },
      },
    ],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: 'envtest', user: name } }],
    'current-context': name,
  };
  const path = join(directory, `${namespace}-${name}.kubeconfig`);
  await writeFile(path, stringify(contents), { mode: 0o600 });
  return path;
}

/**
 * Returns the operator container's environment from the installed Deployment, with the pod's
 * namespace filled in where the kubelet would take it from the downward API.
 */
export async function deploymentEnvironment(
  admin: KubeConfig,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  const deployment = await admin
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ namespace, name });
  const env: Record<string, string> = {};
  for (const variable of deployment.spec!.template.spec!.containers[0]!.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value;
    } else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') {
      env[variable.name] = namespace;
    }
  }
  return env;
}

/** Resolves with the HTTP status of a call: 200 when it succeeded, else the API's code. */
export async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

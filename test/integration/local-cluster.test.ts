// Runs the local control plane from src/envtest and checks the API behaviour that the operator
// and its tests rely on: namespaces, CRDs, garbage collection, namespace deletion and
// TokenRequest. The first run builds Kubernetes from source, which takes minutes.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';

let cluster: LocalCluster | undefined;
let kubeConfig: KubeConfig;
let coreApi: CoreV1Api;

test.before(async () => {
  cluster = await startLocalCluster();
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfigPath);
  coreApi = kubeConfig.makeApiClient(CoreV1Api);
});

test.after(async () => {
  await cluster?.stop();
});

function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

/** Polls check every 200 ms until it returns true or timeoutMs passes. Returns the last result. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) {
      return true;
    }
    await sleep(200);
  }
  return check();
}

async function isConfigMapGone(namespace: string, name: string): Promise<boolean> {
  try {
    await coreApi.readNamespacedConfigMap({ namespace, name });
    return false;
  } catch (error) {
    if (isNotFound(error)) {
      return true;
    }
    throw error;
  }
}

test('namespace create', async () => {
  await coreApi.createNamespace({ body: { metadata: { name: 'envtest-create' } } });

  const namespace = await coreApi.readNamespace({ name: 'envtest-create' });
  assert.is(namespace.status?.phase, 'Active');
});

test('CRD becomes Established', async () => {
  const apiextensionsApi = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const definition: V1CustomResourceDefinition = {
    metadata: { name: 'widgets.envtest.example.com' },
    spec: {
      group: 'envtest.example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', properties: { size: { type: 'integer' } } },
              },
            },
          },
        },
      ],
    },
  };
  await apiextensionsApi.createCustomResourceDefinition({ body: definition });

  const established = await waitFor(async () => {
    const current = await apiextensionsApi.readCustomResourceDefinition({
      name: 'widgets.envtest.example.com',
    });
    const conditions = current.status?.conditions ?? [];
    return conditions.some(
      (condition) => condition.type === 'Established' && condition.status === 'True',
    );
  });
  assert.ok(established, 'CRD widgets.envtest.example.com never reported Established=True');

  // Established means the apiserver serves the new resource.
  const customObjectsApi = kubeConfig.makeApiClient(CustomObjectsApi);
  const widget = await customObjectsApi.createNamespacedCustomObject({
    group: 'envtest.example.com',
    version: 'v1',
    namespace: 'default',
    plural: 'widgets',
    body: {
      apiVersion: 'envtest.example.com/v1',
      kind: 'Widget',
      metadata: { name: 'first' },
      spec: { size: 3 },
    },
  });
  assert.is(widget.spec.size, 3);
});

test('garbage collector deletes dependents', async () => {
  const namespace = 'default';
  const owner = await coreApi.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'gc-owner' }, data: { role: 'owner' } },
  });
  await coreApi.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name: 'gc-dependent',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'gc-owner', uid: owner.metadata?.uid ?? '' },
        ],
      },
      data: { role: 'dependent' },
    },
  });

  // Background propagation: the owner goes at once, the garbage collector removes the dependent.
  await coreApi.deleteNamespacedConfigMap({ namespace, name: 'gc-owner' });

  const dependentGone = await waitFor(() => isConfigMapGone(namespace, 'gc-dependent'));
  assert.ok(dependentGone, 'ConfigMap gc-dependent still exists after its owner was deleted');
});

test('namespace deletion finishes', async () => {
  const name = 'envtest-delete';
  await coreApi.createNamespace({ body: { metadata: { name } } });
  await coreApi.createNamespacedConfigMap({
    namespace: name,
    body: { metadata: { name: 'content' }, data: { key: 'value' } },
  });
  await coreApi.createNamespacedSecret({
    namespace: name,
    body: { metadata: { name: 'content' }, stringData: { key: 'value' } },
  });
  await coreApi.createNamespacedServiceAccount({
    namespace: name,
    body: { metadata: { name: 'robot' } },
  });

  await coreApi.deleteNamespace({ name });

  const namespaceGone = await waitFor(async () => {
    try {
      await coreApi.readNamespace({ name });
      return false;
    } catch (error) {
      if (isNotFound(error)) {
        return true;
      }
      throw error;
    }
  });
  assert.ok(
    namespaceGone,
    `namespace ${name} still exists: the namespace controller did not finish`,
  );
});

test('TokenRequest token authenticates', async () => {
  const namespace = 'envtest-create';
  await coreApi.createNamespacedServiceAccount({
    namespace,
    body: { metadata: { name: 'robot' } },
  });

  const tokenRequest = await coreApi.createNamespacedServiceAccountToken({
    namespace,
    name: 'robot',
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const token = tokenRequest.status?.token ?? '';
  assert.ok(token.length > 0, 'TokenRequest returned no token');

  const currentCluster = kubeConfig.getCurrentCluster();
  const tokenConfig = new KubeConfig();
  tokenConfig.loadFromClusterAndUser(
    {
      name: 'envtest',
      server: currentCluster?.server ?? '',
      caData: currentCluster?.caData,
      skipTLSVerify: false,
    },
    { name: 'robot', token },
  );

  const review = await tokenConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  assert.is(review.status?.userInfo?.username, `system:serviceaccount:${namespace}:robot`);
  assert.ok(review.status?.userInfo?.groups?.includes('system:serviceaccounts'));

  // RBAC is enforced: a service account without bindings may not list namespaces.
  let listStatus = 0;
  try {
    await tokenConfig.makeApiClient(CoreV1Api).listNamespace();
  } catch (error) {
    listStatus = error instanceof ApiException ? error.code : -1;
  }
  assert.is(listStatus, 403);
});

test('stop closes server, removes directory', async () => {
  assert.ok(cluster !== undefined);
  const { directory } = cluster;
  assert.ok(existsSync(`${directory}/kubeconfig`), 'kubeconfig missing before stop()');

  await cluster.stop();
  // stop() is idempotent.
  await cluster.stop();

  assert.not.ok(existsSync(directory), `${directory} still exists after stop()`);
  let unreachable = false;
  try {
    await coreApi.readNamespace({ name: 'default' });
  } catch (error) {
    unreachable = !(error instanceof ApiException);
  }
  assert.ok(unreachable, 'kube-apiserver still answers after stop()');
});

test.run();

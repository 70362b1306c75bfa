/**
 * The operator's ServiceAccount informer against a real kube-apiserver: listed and watched
 * objects reach the cache without `metadata.managedFields`, which the server sends with every
 * object and the operator never reads.
 */
import {
  type KubernetesListObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNamespacedInformer, startInformerOnce } from '../../src/kube/informers.ts';
import { group, type ServiceAccount, serviceAccountPlural, version } from '../../src/kube/types.ts';
import { type E2eCluster, startE2eCluster } from '../support/e2e-cluster.ts';
import { waitFor } from '../support/wait.ts';

let env: E2eCluster | undefined;

test.before(async () => {
  env = await startE2eCluster({}, ['team-a', 'team-b']);
});

test.after(async () => {
  await env?.cluster.stop();
});

function serviceAccount(namespace: string, name: string): ServiceAccount {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'ServiceAccount',
    metadata: { namespace, name },
    spec: { email: `${name}@example.com` },
  };
}

async function create(namespace: string, name: string): Promise<void> {
  await env!.customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    body: serviceAccount(namespace, name),
  });
}

async function writeStatus(namespace: string, name: string): Promise<void> {
  await env!.customObjects.patchNamespacedCustomObjectStatus(
    {
      group,
      version,
      namespace,
      plural: serviceAccountPlural,
      name,
      body: { status: { accountName: name } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function list(namespace: string | undefined): Promise<KubernetesListObject<ServiceAccount>> {
  const path = { group, version, plural: serviceAccountPlural };
  const listed =
    namespace === undefined
      ? await env!.customObjects.listClusterCustomObject(path)
      : await env!.customObjects.listNamespacedCustomObject({ ...path, namespace });
  return listed as KubernetesListObject<ServiceAccount>;
}

for (const namespaces of [undefined, ['team-a', 'team-b']]) {
  const scope = namespaces ? 'per-namespace informers' : 'one cluster-wide informer';

  test(`${scope} cache listed and watched objects without managedFields`, async () => {
    const prefix = namespaces ? 'scoped' : 'wide';
    await create('team-a', `${prefix}-listed`);
    await writeStatus('team-a', `${prefix}-listed`);
    const informer = makeNamespacedInformer<ServiceAccount>(
      env!.kubeConfig,
      { group, version, plural: serviceAccountPlural },
      list,
      namespaces,
    );
    assert.is(await startInformerOnce(informer), undefined);
    try {
      await create('team-b', `${prefix}-watched`);
      await writeStatus('team-b', `${prefix}-watched`);
      const watched = await waitFor('the watched status in the cache', async () => {
        const cached = informer.get(`${prefix}-watched`, 'team-b');
        return cached?.status?.accountName ? cached : undefined;
      });
      const listed = informer.get(`${prefix}-listed`, 'team-a');

      // The server sends them: a direct read carries both writers' entries.
      const read = (await env!.customObjects.getNamespacedCustomObject({
        group,
        version,
        namespace: 'team-b',
        plural: serviceAccountPlural,
        name: `${prefix}-watched`,
      })) as ServiceAccount;
      assert.ok((read.metadata.managedFields?.length ?? 0) >= 2, 'the server sent managedFields');

      for (const cached of [listed, watched]) {
        assert.ok(cached, 'the object is cached');
        assert.is(cached.metadata.managedFields, undefined);
        assert.ok(cached.metadata.resourceVersion, 'the rest of the metadata is kept');
        assert.is(cached.spec.email, `${cached.metadata.name}@example.com`);
        assert.is(cached.status?.accountName, cached.metadata.name);
      }
    } finally {
      await informer.stop();
    }
  });
}

test.run();

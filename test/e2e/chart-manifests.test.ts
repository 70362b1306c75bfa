/**
 * End to end: the plain manifests in manifests/ (the chart rendered with its default values)
 * apply with `kubectl apply --server-side` to a real API server, and a second server-side diff
 * finds nothing to change. That the manifests match the chart is checked by
 * `scripts/render-manifests.ts --check` in test/integration/chart.test.ts.
 */
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { runCommand } from '../../src/envtest/process.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { group, serviceAccountPlural, tenantPlural } from '../../src/kube/types.ts';

const manifests = fileURLToPath(new URL('../../manifests', import.meta.url));

let cluster: LocalCluster;
let admin: KubeConfig;

test.before(async () => {
  cluster = await startLocalCluster();
  admin = loadKubeConfig(cluster.kubeconfigPath);
});

test.after(async () => {
  await cluster?.stop();
});

function kubectl(args: string[]) {
  return runCommand(cluster.binaries.kubectl, ['--kubeconfig', cluster.kubeconfigPath, ...args]);
}

test('manifests apply server-side', async () => {
  // kubectl reads the folder's files in name order, so crds.yaml comes before operator.yaml.
  const { stdout } = await kubectl(['apply', '--server-side', '-f', manifests]);
  for (const line of [
    `customresourcedefinition.apiextensions.k8s.io/${serviceAccountPlural}.${group} serverside-applied`,
    `customresourcedefinition.apiextensions.k8s.io/${tenantPlural}.${group} serverside-applied`,
    'namespace/isc-system serverside-applied',
    'deployment.apps/isc-sa-operator serverside-applied',
    'clusterrole.rbac.authorization.k8s.io/isc-sa-operator serverside-applied',
    'role.rbac.authorization.k8s.io/isc-sa-operator-leader-election serverside-applied',
  ]) {
    assert.ok(stdout.includes(line), `kubectl output lacks "${line}":\n${stdout}`);
  }
});

test('applied objects are stored', async () => {
  const crds = admin.makeApiClient(ApiextensionsV1Api);
  for (const plural of [serviceAccountPlural, tenantPlural]) {
    const crd = await crds.readCustomResourceDefinition({ name: `${plural}.${group}` });
    const established = crd.status?.conditions?.find(
      (condition) => condition.type === 'Established',
    );
    assert.is(established?.status, 'True', `${plural} CRD established`);
  }
  const namespace = await admin.makeApiClient(CoreV1Api).readNamespace({ name: 'isc-system' });
  assert.is(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');

  const deployment = await admin
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ namespace: 'isc-system', name: 'isc-sa-operator' });
  assert.is(deployment.spec?.template.spec?.serviceAccountName, 'isc-sa-operator');
  const binding = await admin
    .makeApiClient(RbacAuthorizationV1Api)
    .readClusterRoleBinding({ name: 'isc-sa-operator' });
  assert.is(binding.roleRef.name, 'isc-sa-operator');
  assert.is(binding.subjects?.[0]?.namespace, 'isc-system');
});

test('second apply finds no drift', async () => {
  // kubectl diff exits 0 without differences and 1 with them; runCommand throws on 1.
  const { stdout } = await kubectl(['diff', '--server-side', '-f', manifests]);
  assert.is(stdout, '');
});

test.run();

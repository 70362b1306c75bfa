/**
 * End to end: `helm upgrade` and `helm uninstall` of the chart against a real API server. The
 * checks read the objects the API server stores, not helm's rendering. No operator runs, because
 * the chart's objects are the subject here. test/e2e/chart-rbac.test.ts and
 * test/e2e/chart-namespaced.test.ts run the operator with the installed RBAC.
 */
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PolicyV1Api,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ensureHelm,
  type LocalCluster,
  runHelm,
  startLocalCluster,
} from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { group, serviceAccountPlural, tenantPlural, version } from '../../src/kube/types.ts';
import { statusOf } from '../support/chart-env.ts';

const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
const releaseNamespace = 'isc-system';
const fullname = 'isc-isc-sa-operator';
// Nothing connects to the Tenant's base URL, because no operator runs in this file.
const tenantValues = [
  'tenant.create=true',
  'tenant.baseUrl=http://127.0.0.1:9',
  'tenant.credentials.clientId=chart-client',
  'tenant.credentials.clientSecret=chart-secret',
];

let cluster: LocalCluster;
let helm: string;
let admin: KubeConfig;

test.before(async () => {
  helm = await ensureHelm();
  cluster = await startLocalCluster();
  admin = loadKubeConfig(cluster.kubeconfigPath);
});

test.after(async () => {
  await cluster?.stop();
});

async function runRelease(
  command: 'install' | 'upgrade',
  release: string,
  namespace: string,
  values: string[],
): Promise<void> {
  const args = [command, release, chart, '--namespace', namespace];
  if (command === 'install') args.push('--create-namespace');
  // Upgrades keep the values of the previous revision, as users run them for one change.
  if (command === 'upgrade') args.push('--reuse-values');
  for (const value of values) args.push('--set', value);
  await runHelm(helm, args, { kubeconfigPath: cluster.kubeconfigPath });
}

/** Returns the operator container's literal environment values from the stored Deployment. */
async function operatorEnvironment(): Promise<Record<string, string>> {
  const deployment = await admin
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ namespace: releaseNamespace, name: fullname });
  const env: Record<string, string> = {};
  for (const variable of deployment.spec!.template.spec!.containers[0]!.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
  }
  return env;
}

const rbac = () => admin.makeApiClient(RbacAuthorizationV1Api);

test('install stores the defaults', async () => {
  await runRelease('install', 'isc', releaseNamespace, tenantValues);
  const env = await operatorEnvironment();
  assert.is(env.OPERATOR_WORKERS, '4');
  assert.is(env.LOG_LEVEL, 'info');
  assert.is(env.OPERATOR_WATCH_NAMESPACES, undefined);
  assert.is(await statusOf(() => rbac().readClusterRole({ name: fullname })), 200);
});

test('upgrade changes operator settings', async () => {
  await runRelease('upgrade', 'isc', releaseNamespace, [
    'operator.workers=2',
    'operator.logLevel=debug',
    'operator.resyncSeconds=120',
  ]);
  const env = await operatorEnvironment();
  assert.is(env.OPERATOR_WORKERS, '2');
  assert.is(env.LOG_LEVEL, 'debug');
  assert.is(env.OPERATOR_RESYNC_SECONDS, '120');
  // --reuse-values kept the Tenant of the first revision.
  const tenant = await admin.makeApiClient(CustomObjectsApi).getClusterCustomObject({
    group,
    version,
    plural: tenantPlural,
    name: 'default',
  });
  assert.is(tenant.spec.baseUrl, 'http://127.0.0.1:9');
});

test('upgrade to watchNamespaces swaps RBAC', async () => {
  // Helm creates Roles in the listed namespaces but not the namespaces themselves.
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'team-a' } } });
  await runRelease('upgrade', 'isc', releaseNamespace, ['watchNamespaces={team-a}']);

  const env = await operatorEnvironment();
  assert.is(env.OPERATOR_WATCH_NAMESPACES, 'team-a');
  assert.is(await statusOf(() => rbac().readClusterRole({ name: fullname })), 404);
  assert.is(await statusOf(() => rbac().readClusterRoleBinding({ name: fullname })), 404);

  const tenantsRole = await rbac().readClusterRole({ name: `${fullname}-tenants` });
  assert.equal(
    tenantsRole.rules?.map((rule) => rule.resources),
    [['tenants'], ['tenants/status']],
  );
  const teamRole = await rbac().readNamespacedRole({ namespace: 'team-a', name: fullname });
  assert.ok(
    teamRole.rules?.some((rule) => rule.resources?.includes('serviceaccounts')),
    'the team-a Role grants no ServiceAccount resources',
  );
  const binding = await rbac().readNamespacedRoleBinding({ namespace: 'team-a', name: fullname });
  const subjects = binding.subjects?.map(({ kind, name, namespace }) => ({
    kind,
    name,
    namespace,
  }));
  assert.equal(subjects, [{ kind: 'ServiceAccount', name: fullname, namespace: releaseNamespace }]);
  // The chart's Tenant reads its Secret in the release namespace, which is not listed.
  const secretRole = await rbac().readNamespacedRole({
    namespace: releaseNamespace,
    name: `${fullname}-tenant-credentials`,
  });
  assert.equal(secretRole.rules?.[0]?.resourceNames, [`${fullname}-credentials`]);
});

test('upgrade back to all namespaces', async () => {
  // `--set watchNamespaces={}` sets a list holding one empty name, which the schema rejects.
  await runHelm(
    helm,
    ['upgrade', 'isc', chart, '--namespace', releaseNamespace, '--reuse-values'].concat(
      '--set-json',
      'watchNamespaces=[]',
    ),
    { kubeconfigPath: cluster.kubeconfigPath },
  );
  const env = await operatorEnvironment();
  assert.is(env.OPERATOR_WATCH_NAMESPACES, undefined);
  assert.is(await statusOf(() => rbac().readClusterRole({ name: fullname })), 200);
  assert.is(
    await statusOf(() => rbac().readClusterRole({ name: `${fullname}-tenants` })),
    404,
    'ClusterRole of the namespaced mode',
  );
  assert.is(
    await statusOf(() => rbac().readNamespacedRole({ namespace: 'team-a', name: fullname })),
    404,
    'Role in team-a',
  );
  assert.is(
    await statusOf(() =>
      rbac().readNamespacedRole({
        namespace: releaseNamespace,
        name: `${fullname}-tenant-credentials`,
      }),
    ),
    404,
    'Role for the Tenant Secret',
  );
});

test('uninstall keeps CRDs, Tenant and Secret', async () => {
  const customObjects = admin.makeApiClient(CustomObjectsApi);
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace: 'team-a',
    plural: serviceAccountPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name: 'kept-bot' },
      spec: { accountId: 'SA-KEPT', email: 'kept-bot@example.com', purpose: 'Uninstall test' },
    },
  });
  await runHelm(helm, ['uninstall', 'isc', '--namespace', releaseNamespace], {
    kubeconfigPath: cluster.kubeconfigPath,
  });

  const core = admin.makeApiClient(CoreV1Api);
  const apps = admin.makeApiClient(AppsV1Api);
  const policy = admin.makeApiClient(PolicyV1Api);
  const namespace = releaseNamespace;
  const removed: Array<[string, () => Promise<unknown>]> = [
    ['Deployment', () => apps.readNamespacedDeployment({ namespace, name: fullname })],
    ['ServiceAccount', () => core.readNamespacedServiceAccount({ namespace, name: fullname })],
    ['Service', () => core.readNamespacedService({ namespace, name: `${fullname}-metrics` })],
    [
      'PodDisruptionBudget',
      () => policy.readNamespacedPodDisruptionBudget({ namespace, name: fullname }),
    ],
    ['ClusterRole', () => rbac().readClusterRole({ name: fullname })],
    ['ClusterRoleBinding', () => rbac().readClusterRoleBinding({ name: fullname })],
    [
      'leader election Role',
      () => rbac().readNamespacedRole({ namespace, name: `${fullname}-leader-election` }),
    ],
    [
      'leader election RoleBinding',
      () => rbac().readNamespacedRoleBinding({ namespace, name: `${fullname}-leader-election` }),
    ],
  ];
  for (const [kind, read] of removed) {
    assert.is(await statusOf(read), 404, `${kind} outlived the release`);
  }

  const tenant = await customObjects.getClusterCustomObject({
    group,
    version,
    plural: tenantPlural,
    name: 'default',
  });
  assert.is(tenant.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
  const secret = await core.readNamespacedSecret({ namespace, name: `${fullname}-credentials` });
  assert.ok(secret.data?.clientSecret, 'the credentials Secret lost its clientSecret');

  const crds = admin.makeApiClient(ApiextensionsV1Api);
  for (const plural of [serviceAccountPlural, tenantPlural]) {
    const name = `${plural}.${group}`;
    assert.is(await statusOf(() => crds.readCustomResourceDefinition({ name })), 200, name);
  }
  const account = await customObjects.getNamespacedCustomObject({
    group,
    version,
    namespace: 'team-a',
    plural: serviceAccountPlural,
    name: 'kept-bot',
  });
  assert.is(account.spec.accountId, 'SA-KEPT');
});

test('uninstall removes Tenant unless kept', async () => {
  await runRelease('install', 'other', 'isc-other', [
    ...tenantValues,
    'tenant.name=other',
    'tenant.default=false',
    'tenant.keepOnUninstall=false',
  ]);
  const customObjects = admin.makeApiClient(CustomObjectsApi);
  const readTenant = () =>
    customObjects.getClusterCustomObject({ group, version, plural: tenantPlural, name: 'other' });
  assert.is(await statusOf(readTenant), 200, 'Tenant after install');

  await runHelm(helm, ['uninstall', 'other', '--namespace', 'isc-other'], {
    kubeconfigPath: cluster.kubeconfigPath,
  });
  assert.is(await statusOf(readTenant), 404, 'Tenant after uninstall');
  const core = admin.makeApiClient(CoreV1Api);
  assert.is(
    await statusOf(() =>
      core.readNamespacedSecret({
        namespace: 'isc-other',
        name: 'other-isc-sa-operator-credentials',
      }),
    ),
    404,
    'Secret after uninstall',
  );
});

test.run();

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import {
  ensureHelm,
  type LocalCluster,
  runHelm,
  startLocalCluster,
} from '../../src/envtest/index.ts';
import { runCommand } from '../../src/envtest/process.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { group, serviceAccountPlural, tenantPlural, version } from '../../src/kube/types.ts';
import {
  deploymentEnvironment,
  statusOf,
  writeServiceAccountKubeconfig,
} from '../support/chart-env.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { waitFor } from '../support/wait.ts';

const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
const operatorClient = { clientId: 'chart-operator', clientSecret: `op-${crypto.randomUUID()}` };

let cluster: LocalCluster;
let emulator: RunningEmulator;
let helm: string;
let admin: KubeConfig;
let operator: OperatorProcess | undefined;

test.before(async () => {
  helm = await ensureHelm();
  cluster = await startLocalCluster();
  emulator = await startEmulator({ clients: [operatorClient], asyncDelayMs: 200 });
  admin = loadKubeConfig(cluster.kubeconfigPath);
});

test.after(async () => {
  await operator?.stop();
  await emulator?.close();
  await cluster?.stop();
});

async function helmInstall(release: string, namespace: string, values: string[]): Promise<void> {
  const args = ['install', release, chart, '--namespace', namespace, '--create-namespace'];
  for (const value of values) args.push('--set', value);
  await runHelm(helm, args, { kubeconfigPath: cluster.kubeconfigPath });
}

/** Writes a kubeconfig with a token of namespace/name and returns its path and a client. */
async function serviceAccountKubeconfig(namespace: string, name: string) {
  const path = await writeServiceAccountKubeconfig(admin, cluster.directory, namespace, name);
  return { path, config: loadKubeConfig(path) };
}

function readyReason(resource: { status?: { conditions?: Array<Record<string, string>> } }) {
  const ready = resource.status?.conditions?.find((condition) => condition.type === 'Ready');
  return ready?.status === 'True' ? ready.reason : undefined;
}

test('chart installs and the operator converges', async () => {
  await helmInstall('isc', 'isc-system', [
    'tenant.create=true',
    `tenant.baseUrl=${emulator.url}`,
    `tenant.credentials.clientId=${operatorClient.clientId}`,
    `tenant.credentials.clientSecret=${operatorClient.clientSecret}`,
  ]);
  const env = await deploymentEnvironment(admin, 'isc-system', 'isc-isc-sa-operator');
  assert.is(env.OPERATOR_LEADER_ELECTION, 'true');
  assert.is(env.POD_NAMESPACE, 'isc-system');

  const identity = await serviceAccountKubeconfig('isc-system', 'isc-isc-sa-operator');
  operator = startOperatorProcess({
    ...env,
    KUBECONFIG: identity.path,
    // The chart listens on 0.0.0.0 inside the pod; outside one the test keeps to loopback.
    OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
  });

  const customObjects = admin.makeApiClient(CustomObjectsApi);
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name: 'chart-bot' },
      spec: { accountId: 'SA-CHART', email: 'chart-bot@example.com', purpose: 'Chart test' },
    },
  });

  const tenantReason = await waitFor(
    'the Tenant to be Ready',
    async () =>
      readyReason(
        await customObjects.getClusterCustomObject({
          group,
          version,
          plural: tenantPlural,
          name: 'default',
        }),
      ),
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\noperator output:\n${operator?.output()}`);
  });
  assert.is(tenantReason, 'Connected');

  const accountReason = await waitFor(
    'the ServiceAccount to be Ready',
    async () =>
      readyReason(
        await customObjects.getNamespacedCustomObject({
          group,
          version,
          namespace: 'default',
          plural: serviceAccountPlural,
          name: 'chart-bot',
        }),
      ),
    90_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\noperator output:\n${operator?.output()}`);
  });
  assert.is(accountReason, 'Converged');
  assert.not.match(operator.output(), /forbidden/i, 'the operator hit an RBAC denial');
});

test('operator holds the lease in its namespace', async () => {
  const leases = admin.makeApiClient(CoordinationV1Api);
  const lease = await leases.readNamespacedLease({
    namespace: 'isc-system',
    name: 'isc-sa-operator',
  });
  assert.ok(lease.spec?.holderIdentity, 'the Lease has no holder');
});

test('cluster-wide identity is denied other calls', async () => {
  const { config } = await serviceAccountKubeconfig('isc-system', 'isc-isc-sa-operator');
  const core = config.makeApiClient(CoreV1Api);
  const customObjects = config.makeApiClient(CustomObjectsApi);
  assert.is(await statusOf(() => core.listPodForAllNamespaces()), 403, 'list pods');
  assert.is(await statusOf(() => core.listSecretForAllNamespaces()), 403, 'list secrets');
  assert.is(
    await statusOf(() => core.createNamespace({ body: { metadata: { name: 'sneaky' } } })),
    403,
    'create namespace',
  );
  assert.is(
    await statusOf(() =>
      customObjects.deleteNamespacedCustomObject({
        group,
        version,
        namespace: 'default',
        plural: serviceAccountPlural,
        name: 'chart-bot',
      }),
    ),
    403,
    'delete a ServiceAccount resource',
  );
  assert.is(
    await statusOf(() =>
      config
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace: 'kube-system', name: 'isc-sa-operator' }),
    ),
    403,
    'read a Lease in another namespace',
  );
});

test('namespaced mode limits secrets to listed namespaces', async () => {
  const core = admin.makeApiClient(CoreV1Api);
  for (const namespace of ['team-a', 'team-b']) {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'isc-credentials' }, stringData: operatorClient },
    });
  }
  await helmInstall('scoped', 'isc-scoped', ['watchNamespaces={team-a}']);

  const { config } = await serviceAccountKubeconfig('isc-scoped', 'scoped-isc-sa-operator');
  const scopedCore = config.makeApiClient(CoreV1Api);
  const customObjects = config.makeApiClient(CustomObjectsApi);
  const readSecret = (namespace: string) =>
    statusOf(() => scopedCore.readNamespacedSecret({ namespace, name: 'isc-credentials' }));
  assert.is(await readSecret('team-a'), 200, 'secret in a listed namespace');
  assert.is(await readSecret('team-b'), 403, 'secret in another namespace');
  assert.is(await readSecret('isc-system'), 403, 'secret in the other release namespace');

  const listIn = (namespace: string) =>
    statusOf(() =>
      customObjects.listNamespacedCustomObject({
        group,
        version,
        namespace,
        plural: serviceAccountPlural,
      }),
    );
  assert.is(await listIn('team-a'), 200, 'ServiceAccount resources in a listed namespace');
  assert.is(await listIn('team-b'), 403, 'ServiceAccount resources in another namespace');
  assert.is(
    await statusOf(() =>
      customObjects.listClusterCustomObject({ group, version, plural: tenantPlural }),
    ),
    200,
    'list Tenants',
  );
  // The operator lists ServiceAccount resources per listed namespace in this mode
  // (OPERATOR_WATCH_NAMESPACES), so it needs no cluster-wide list.
  assert.is(
    await statusOf(() =>
      customObjects.listClusterCustomObject({ group, version, plural: serviceAccountPlural }),
    ),
    403,
    'list ServiceAccount resources in all namespaces',
  );
});

test('CRDs upgrade by server-side apply', async () => {
  const { stdout } = await runCommand(cluster.binaries.kubectl, [
    '--kubeconfig',
    cluster.kubeconfigPath,
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(chart, 'crds'),
  ]);
  assert.match(stdout, /serviceaccounts\.isc\.sailpoint serverside-applied/);
  assert.match(stdout, /tenants\.isc\.sailpoint serverside-applied/);
});

test('uninstall keeps the tenant and its secret', async () => {
  await operator?.stop();
  operator = undefined;
  await runHelm(helm, ['uninstall', 'isc', '--namespace', 'isc-system'], {
    kubeconfigPath: cluster.kubeconfigPath,
  });
  const customObjects = admin.makeApiClient(CustomObjectsApi);
  const tenant = await customObjects.getClusterCustomObject({
    group,
    version,
    plural: tenantPlural,
    name: 'default',
  });
  assert.ok(tenant, 'the Tenant was deleted');
  const core = admin.makeApiClient(CoreV1Api);
  const secret = await core.readNamespacedSecret({
    namespace: 'isc-system',
    name: 'isc-isc-sa-operator-credentials',
  });
  assert.ok(secret.data?.clientSecret, 'the credentials Secret was deleted');
  const apps = admin.makeApiClient(AppsV1Api);
  assert.is(
    await statusOf(() =>
      apps.readNamespacedDeployment({ namespace: 'isc-system', name: 'isc-isc-sa-operator' }),
    ),
    404,
    'the Deployment outlived the release',
  );
});

test.run();

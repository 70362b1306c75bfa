import { fileURLToPath } from 'node:url';
import {
  ApiException,
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
import { loadKubeConfig } from '../../src/kube/client.ts';
import { group, serviceAccountPlural, tenantPlural, version } from '../../src/kube/types.ts';
import { deploymentEnvironment, writeServiceAccountKubeconfig } from '../support/chart-env.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { waitFor } from '../support/wait.ts';

const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
const operatorClient = { clientId: 'scoped-operator', clientSecret: `op-${crypto.randomUUID()}` };
const releaseNamespace = 'isc-system';
const fullname = 'scoped-isc-sa-operator';

let cluster: LocalCluster;
let emulator: RunningEmulator;
let helm: string;
let admin: KubeConfig;
let operatorConfig: KubeConfig;
let operator: OperatorProcess | undefined;

test.before(async () => {
  helm = await ensureHelm();
  cluster = await startLocalCluster();
  emulator = await startEmulator({ clients: [operatorClient], asyncDelayMs: 200 });
  admin = loadKubeConfig(cluster.kubeconfigPath);
});

test.after(async () => {
  // NOTE: the operator may outlive SIGTERM for the rest of TenantController.start's
  // 30-second settle timer, so the grace is short.
  await operator?.stop(2_000);
  await emulator?.close();
  await cluster?.stop();
});

/** Writes a kubeconfig with a token of the chart's ServiceAccount and returns its path. */
function operatorKubeconfig(): Promise<string> {
  return writeServiceAccountKubeconfig(admin, cluster.directory, releaseNamespace, fullname);
}

function readyReason(resource: { status?: { conditions?: Array<Record<string, string>> } }) {
  const ready = resource.status?.conditions?.find((condition) => condition.type === 'Ready');
  return ready?.status === 'True' ? ready.reason : undefined;
}

/** Adds the operator's output to a failed wait, which usually explains it. */
function withOperatorOutput(error: Error): never {
  throw new Error(`${error.message}\noperator output:\n${operator?.output()}`);
}

function serviceAccountBody(name: string, accountId: string) {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'ServiceAccount',
    metadata: { name },
    spec: { accountId, email: `${name}@example.com`, purpose: 'Namespaced chart test' },
  };
}

test('operator serves only team-a', async () => {
  const core = admin.makeApiClient(CoreV1Api);
  for (const namespace of ['team-a', 'team-b']) {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  }
  const install = ['install', 'scoped', chart, '--namespace', releaseNamespace];
  install.push('--create-namespace');
  for (const value of [
    'watchNamespaces={team-a}',
    'tenant.create=true',
    `tenant.baseUrl=${emulator.url}`,
    `tenant.credentials.clientId=${operatorClient.clientId}`,
    `tenant.credentials.clientSecret=${operatorClient.clientSecret}`,
  ]) {
    install.push('--set', value);
  }
  await runHelm(helm, install, { kubeconfigPath: cluster.kubeconfigPath });

  const env = await deploymentEnvironment(admin, releaseNamespace, fullname);
  assert.is(env.OPERATOR_WATCH_NAMESPACES, 'team-a');
  const kubeconfigPath = await operatorKubeconfig();
  operatorConfig = loadKubeConfig(kubeconfigPath);

  // The team-b resource exists before the operator starts and before the team-a one, so an
  // operator that watched team-b would reach it first.
  const customObjects = admin.makeApiClient(CustomObjectsApi);
  const resources = { group, version, plural: serviceAccountPlural };
  await customObjects.createNamespacedCustomObject({
    ...resources,
    namespace: 'team-b',
    body: serviceAccountBody('outside-bot', 'SA-OUTSIDE'),
  });
  operator = startOperatorProcess({
    ...env,
    KUBECONFIG: kubeconfigPath,
    OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
  });
  await customObjects.createNamespacedCustomObject({
    ...resources,
    namespace: 'team-a',
    body: serviceAccountBody('inside-bot', 'SA-INSIDE'),
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
  ).catch(withOperatorOutput);
  assert.is(tenantReason, 'Connected');

  const insideReason = await waitFor(
    'the team-a ServiceAccount to converge',
    async () =>
      readyReason(
        await customObjects.getNamespacedCustomObject({
          ...resources,
          namespace: 'team-a',
          name: 'inside-bot',
        }),
      ),
    90_000,
  ).catch(withOperatorOutput);
  assert.is(insideReason, 'Converged');

  const outside = await customObjects.getNamespacedCustomObject({
    ...resources,
    namespace: 'team-b',
    name: 'outside-bot',
  });
  assert.is(outside.status, undefined, 'the team-b resource has a status');
  assert.is(outside.metadata.finalizers, undefined, 'the team-b resource has a finalizer');
  assert.is(outside.metadata.generation, 1, 'the team-b spec changed');

  const events = await core.listNamespacedEvent({ namespace: 'team-b' });
  assert.equal(
    events.items.map((event) => event.reason),
    [],
    'Events in team-b',
  );
  assert.not.match(operator.output(), /forbidden/i, 'the operator hit an RBAC denial');
});

test('token cannot list all ServiceAccounts', async () => {
  const customObjects = operatorConfig.makeApiClient(CustomObjectsApi);
  let status = 200;
  try {
    await customObjects.listClusterCustomObject({ group, version, plural: serviceAccountPlural });
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    status = error.code;
  }
  assert.is(status, 403);
});

test.run();

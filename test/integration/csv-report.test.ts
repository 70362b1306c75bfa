import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BatchReport } from '../../src/controller/csv-batcher.ts';
import { CsvUploadReporter } from '../../src/controller/csv-report.ts';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { installCrds } from '../../src/kube/crds.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import { createTenant as createTenantResource, getTenant } from '../support/resources.ts';

let cluster: LocalCluster;
let kubeConfig: KubeConfig;
let api: CustomObjectsApi;
let reporter: CsvUploadReporter;

test.before(async () => {
  cluster = await startLocalCluster({ controllerManager: false });
  kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  await installCrds(kubeConfig);
  api = kubeConfig.makeApiClient(CustomObjectsApi);
  const logger = pino({ level: 'silent' });
  reporter = new CsvUploadReporter(
    kubeConfig,
    new EventRecorder(kubeConfig, logger),
    undefined,
    logger,
  );
});

test.after(async () => {
  await cluster?.stop();
});

async function createTenant(name: string): Promise<void> {
  await createTenantResource(api, name, {
    baseUrl: 'https://example.api.identitynow.com',
    credentialsSecretRef: { namespace: 'default', name: 'isc' },
  });
}

function uploaded(result: string, message: string): Extract<BatchReport, { kind: 'uploaded' }> {
  return {
    kind: 'uploaded',
    text: 'id,name\n',
    sha256: 'abc',
    rows: 1,
    taskId: `task-${result}`,
    result,
    message,
    created: 0,
    updated: 1,
    removed: 0,
    countsFrom: 'task',
    plannedRemovals: 1,
    time: new Date().toISOString(),
  };
}

test('success clears an earlier message', async () => {
  await createTenant('message');
  await reporter.report('message', undefined, uploaded('WARNING', 'delete phase skipped'));
  const warned = await getTenant(api, 'message');
  assert.is(warned.status?.lastUpload?.message, 'delete phase skipped');

  await reporter.report('message', undefined, uploaded('SUCCESS', ''));
  const succeeded = await getTenant(api, 'message');
  assert.is(succeeded.status?.lastUpload?.result, 'SUCCESS');
  assert.is(succeeded.status?.lastUpload?.message, undefined);
});

test('Ready follows the upload stall', async () => {
  await createTenant('ready');
  await reporter.report('ready', undefined, uploaded('WARNING', 'delete phase skipped'));
  const warned = await getTenant(api, 'ready');
  const stalled = warned.status?.conditions?.find((condition) => condition.type === 'Stalled');
  const notReady = warned.status?.conditions?.find((condition) => condition.type === 'Ready');
  assert.is(stalled?.status, 'True');
  assert.is(notReady?.status, 'False');
  assert.is(notReady?.reason, 'UploadWarning');

  await reporter.report('ready', undefined, uploaded('SUCCESS', ''));
  const landed = await getTenant(api, 'ready');
  const ready = landed.status?.conditions?.find((condition) => condition.type === 'Ready');
  assert.is(
    landed.status?.conditions?.find((condition) => condition.type === 'Stalled'),
    undefined,
  );
  assert.is(ready?.status, 'True');
});

test('failed keep clears the ConfigMap name', async () => {
  await createTenant('kept');
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'csv-files' } } });
  await reporter.report('kept', 'csv-files', uploaded('SUCCESS', ''));
  const afterKeep = await getTenant(api, 'kept');
  assert.is(afterKeep.status?.lastUpload?.configMap, 'csv-files/isc-sa-operator-csv-kept');
  assert.is(afterKeep.status?.lastUpload?.fileNotKept, undefined);

  // A namespace that does not exist makes the ConfigMap write fail, as missing RBAC would.
  const next = { ...uploaded('SUCCESS', ''), sha256: 'def', taskId: 'task-next' };
  await reporter.report('kept', 'no-such-namespace', next);
  const afterFailure = await getTenant(api, 'kept');
  assert.is(afterFailure.status?.lastUpload?.taskId, 'task-next');
  assert.is(afterFailure.status?.lastUpload?.configMap, undefined);
  assert.match(
    afterFailure.status?.lastUpload?.fileNotKept ?? '',
    'writing ConfigMap no-such-namespace/isc-sa-operator-csv-kept failed: ' +
      'Kubernetes API returned HTTP 404',
  );

  await reporter.report('kept', 'csv-files', uploaded('SUCCESS', ''));
  const afterRetry = await getTenant(api, 'kept');
  assert.is(afterRetry.status?.lastUpload?.configMap, 'csv-files/isc-sa-operator-csv-kept');
  assert.is(afterRetry.status?.lastUpload?.fileNotKept, undefined);
});

test('oversized file names no ConfigMap', async () => {
  await createTenant('large');
  // Random hex compresses to about half its size, so the gzipped file exceeds 900 KiB.
  const text = randomBytes(1_000_000).toString('hex');
  await reporter.report('large', 'csv-files', { ...uploaded('SUCCESS', ''), text });
  const tenant = await getTenant(api, 'large');
  assert.is(tenant.status?.lastUpload?.configMap, undefined);
  assert.match(tenant.status?.lastUpload?.fileNotKept ?? '', /^the gzipped file \(\d+ bytes\)/);
  const configMap = await kubeConfig
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ namespace: 'csv-files', name: 'isc-sa-operator-csv-large' });
  assert.is(configMap.binaryData, undefined);
  assert.match(configMap.data?.note ?? '', 'exceeds');
});

test.run();

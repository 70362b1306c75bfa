/**
 * csv sync mode end to end: a Tenant with `syncMode: csv`, the operator as its own process and
 * the emulator, whose call log counts the uploads. The source contains accounts no resource owns
 * from the start; every upload must carry them unchanged.
 */
import { gunzipSync } from 'node:zlib';
import {
  type CoreV1Api,
  type CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { parseAccountsCsv } from '../../src/isc/accounts-csv.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';
import { eq } from '../../src/isc/filters.ts';
import type { Account } from '../../src/isc/types.ts';
import { group, type ServiceAccount, serviceAccountPlural, version } from '../../src/kube/types.ts';
import { credentialsNamespace, type E2eCluster, startE2eCluster } from '../support/e2e-cluster.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { createTenant, getTenant } from '../support/resources.ts';
import { waitFor } from '../support/wait.ts';

const operatorClient = { clientId: 'csv-operator', clientSecret: `op-${crypto.randomUUID()}` };
const inspectorClient = { clientId: 'csv-inspector', clientSecret: `in-${crypto.randomUUID()}` };
const bulkCount = 300;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let e2e: E2eCluster;
let emulator: RunningEmulator;
let customObjects: CustomObjectsApi;
let core: CoreV1Api;
let operator: OperatorProcess;
let isc: IscApi;
let sourceId: string;
/** Accounts seeded directly in ISC, as their attributes must stay. */
const unmanaged = new Map<string, Record<string, string>>();

test.before(async () => {
  e2e = await startE2eCluster({ 'isc-credentials': operatorClient }, ['bulk', 'team']);
  ({ customObjects, core } = e2e);
  emulator = await startEmulator({ clients: [operatorClient, inspectorClient], asyncDelayMs: 50 });
  await createTenant(customObjects, 'default', {
    baseUrl: emulator.url,
    credentialsSecretRef: { namespace: credentialsNamespace, name: 'isc-credentials' },
    syncMode: 'csv',
    batchWindowSeconds: 5,
    deleteGuard: { maxPercent: 10 },
  });
  operator = startOperatorProcess({
    KUBECONFIG: e2e.cluster.kubeconfigPath,
    OPERATOR_WORKERS: '8',
    OPERATOR_METRICS_ADDRESS: 'off',
    LOG_LEVEL: 'debug',
  });
  isc = new IscApi(
    new IscClient({ baseUrl: emulator.url, ...inspectorClient, logger: pino({ level: 'silent' }) }),
  );
});

test.after(async () => {
  await operator?.stop();
  await emulator?.close();
  await e2e?.cluster.stop();
});

async function sourceAccounts(): Promise<Account[]> {
  const accounts: Account[] = [];
  for await (const account of isc.list<Account>('accounts', '', {
    filters: eq('sourceId', sourceId),
    sorters: 'id',
  })) {
    accounts.push(account);
  }
  return accounts;
}

function uploadCalls() {
  return emulator.calls.filter((call) => call.operationId === 'importAccounts');
}

function processCalls() {
  return emulator.calls.filter((call) => call.path.endsWith('/process-identities'));
}

async function createServiceAccount(namespace: string, name: string, spec: object) {
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name },
      spec,
    },
  });
}

async function listResources(namespace: string): Promise<ServiceAccount[]> {
  const list = await customObjects.listNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
  });
  return list.items as ServiceAccount[];
}

function readyReason(resource: ServiceAccount): string | undefined {
  return resource.status?.conditions?.find((condition) => condition.type === 'Ready')?.reason;
}

async function assertUnmanagedKept(): Promise<void> {
  const byId = new Map(
    (await sourceAccounts()).map((account) => [account.nativeIdentity, account]),
  );
  for (const [id, attributes] of unmanaged) {
    const account = byId.get(id);
    assert.ok(account, `unmanaged account ${id} is gone`);
    for (const [name, value] of Object.entries(attributes)) {
      assert.is(account.attributes?.[name], value, `attribute ${name} of ${id}`);
    }
  }
}

test('tenant connects in csv mode', async () => {
  const tenant = await waitFor('Tenant default to connect', async () => {
    const current = await getTenant(customObjects, 'default');
    const ready = current.status?.conditions?.find((condition) => condition.type === 'Ready');
    return ready?.status === 'True' ? current : undefined;
  });
  sourceId = tenant.status!.sourceId!;
  assert.type(sourceId, 'string');
});

test('seeded accounts exist before any resource', async () => {
  const values = ['kept, "quoted"', 'two\nlines', '=1+1', '@admin', 'Zürich 🚀', '-x', '+y'];
  for (let index = 0; index < 20; index++) {
    const id = `HAND-${String(index).padStart(2, '0')}`;
    const attributes = {
      id,
      name: `hand${index}`,
      'e-mail': `hand${index}@example.com`,
      purpose: values[index % values.length]!,
    };
    unmanaged.set(id, attributes);
    await isc.createAccount(sourceId, attributes);
  }
  await waitFor('seeded accounts', async () =>
    (await sourceAccounts()).length === 20 ? true : undefined,
  );
});

test('300 resources converge in a few uploads', async () => {
  emulator.clearCalls();
  const names = Array.from({ length: bulkCount }, (_, index) => `bot-${index}`);
  for (let start = 0; start < names.length; start += 25) {
    await Promise.all(
      names.slice(start, start + 25).map((name) =>
        createServiceAccount('bulk', name, {
          email: `${name}@example.com`,
          purpose: `bulk account ${name}`,
          invite: false,
        }),
      ),
    );
  }
  await waitFor(
    `${bulkCount} resources Ready`,
    async () => {
      const resources = await listResources('bulk');
      const ready = resources.filter((resource) => readyReason(resource) === 'Converged');
      return ready.length === bulkCount ? true : undefined;
    },
    300_000,
    2_000,
  );
  const uploads = uploadCalls().length;
  const processing = processCalls().length;
  console.log(`csv e2e: ${bulkCount} resources, ${uploads} uploads, ${processing} processing runs`);
  assert.ok(uploads >= 1, 'no upload');
  assert.ok(uploads <= 10, `${uploads} uploads`);
  assert.ok(processing <= uploads, `${processing} processing runs for ${uploads} uploads`);
  assert.is(
    emulator.calls.filter((call) => call.method === 'POST' && call.path.endsWith('/accounts'))
      .length,
    0,
    'no account was created one by one',
  );
  assert.is((await sourceAccounts()).length, bulkCount + 20);
  await assertUnmanagedKept();
});

test('tenant status and ConfigMap record the upload', async () => {
  const tenant = await getTenant(customObjects, 'default');
  const lastUpload = tenant.status?.lastUpload;
  assert.ok(lastUpload, 'status.lastUpload is missing');
  assert.is(lastUpload.result, 'SUCCESS');
  assert.is(lastUpload.configMap, 'isc-system/isc-sa-operator-csv-default');
  const configMap = await core.readNamespacedConfigMap({
    namespace: 'isc-system',
    name: 'isc-sa-operator-csv-default',
  });
  assert.is(configMap.data?.sha256, lastUpload.sha256);
  const text = gunzipSync(
    Buffer.from(configMap.binaryData!['accounts.csv.gz']!, 'base64'),
  ).toString('utf8');
  const parsed = parseAccountsCsv(text);
  assert.equal(parsed.columns, ['id', 'name', 'e-mail', 'purpose']);
  assert.is(parsed.rows.length, lastUpload.rows);
  assert.equal(
    parsed.rows.find((row) => row.id === 'HAND-01'),
    unmanaged.get('HAND-01'),
  );
});

test('update goes out in an upload', async () => {
  const before = uploadCalls().length;
  await createServiceAccount('team', 'reporter', {
    accountId: 'SA-REPORT',
    email: 'reporter@example.com',
    purpose: 'first',
    invite: false,
  });
  await waitFor('reporter Ready', async () => {
    const resource = (await listResources('team')).find((r) => r.metadata.name === 'reporter');
    return resource && readyReason(resource) === 'Converged' ? true : undefined;
  });
  await customObjects.patchNamespacedCustomObject(
    {
      group,
      version,
      namespace: 'team',
      plural: serviceAccountPlural,
      name: 'reporter',
      body: { spec: { purpose: 'second, with "quotes"' } },
    },
    mergePatch,
  );
  await waitFor('updated purpose in ISC', async () => {
    const account = (await sourceAccounts()).find((a) => a.nativeIdentity === 'SA-REPORT');
    return account?.attributes?.purpose === 'second, with "quotes"' ? true : undefined;
  });
  assert.ok(uploadCalls().length > before);
  await assertUnmanagedKept();
});

test('delete within the guard removes accounts', async () => {
  for (const name of ['bot-0', 'bot-1', 'bot-2']) {
    await customObjects.deleteNamespacedCustomObject({
      group,
      version,
      namespace: 'bulk',
      plural: serviceAccountPlural,
      name,
    });
  }
  await waitFor(
    'three resources gone',
    async () => ((await listResources('bulk')).length === bulkCount - 3 ? true : undefined),
    120_000,
  );
  const ids = new Set((await sourceAccounts()).map((account) => account.attributes?.name));
  for (const name of ['bot-0', 'bot-1', 'bot-2']) assert.not.ok(ids.has(name), `${name} remains`);
  await assertUnmanagedKept();
});

test('namespace deletion is refused by the guard', async () => {
  const before = (await sourceAccounts()).length;
  await core.deleteNamespace({ name: 'bulk' });
  const tenant = await waitFor(
    'Tenant Stalled with UnsafeUpload',
    async () => {
      const current = await getTenant(customObjects, 'default');
      const stalled = current.status?.conditions?.find((c) => c.type === 'Stalled');
      return stalled?.reason === 'UnsafeUpload' ? current : undefined;
    },
    120_000,
  );
  const stalled = tenant.status!.conditions!.find((c) => c.type === 'Stalled')!;
  assert.is(stalled.status, 'True');
  assert.match(stalled.message, 'spec.deleteGuard.maxPercent');
  const ready = tenant.status!.conditions!.find((c) => c.type === 'Ready')!;
  assert.is(ready.status, 'False', 'Ready stays True beside Stalled');
  assert.is(ready.reason, 'UnsafeUpload');
  await waitFor('UnsafeUpload Event on the Tenant', async () => {
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.kind=Tenant,involvedObject.name=default',
    });
    return events.items.some((event) => event.reason === 'UnsafeUpload' && event.type === 'Warning')
      ? true
      : undefined;
  });
  await waitFor(
    'a deleting resource to say that uploads stopped',
    async () => {
      const resources = await listResources('bulk');
      return resources.some((resource) => {
        const ready = resource.status?.conditions?.find((c) => c.type === 'Ready');
        return (
          ready?.reason === 'DeletingAccount' &&
          ready.message.endsWith('; uploads stopped: Tenant default is Stalled (UnsafeUpload)')
        );
      })
        ? true
        : undefined;
    },
    120_000,
  );
  assert.is((await sourceAccounts()).length, before);
  await assertUnmanagedKept();
});

test('raising the guard lets the deletion finish', async () => {
  // ISC skips removals above the source's deleteThreshold (10% by default) on its own, so an
  // intended mass deletion raises both.
  const source = await isc.client.get<Record<string, unknown>>(
    isc.client.path('sources', `/${sourceId}`),
  );
  await isc.client.request('PUT', isc.client.path('sources', `/${sourceId}`), {
    json: { ...source.body, deleteThreshold: 100 },
  });
  await customObjects.patchClusterCustomObject(
    {
      group,
      version,
      plural: 'tenants',
      name: 'default',
      body: { spec: { deleteGuard: { maxPercent: 100 } } },
    },
    mergePatch,
  );
  await waitFor(
    'bulk accounts removed',
    async () => {
      const names = (await sourceAccounts()).map((account) => String(account.attributes?.name));
      return names.some((name) => name.startsWith('bot-')) ? undefined : true;
    },
    180_000,
    1_000,
  );
  const tenant = await waitFor('Stalled cleared', async () => {
    const current = await getTenant(customObjects, 'default');
    return current.status?.conditions?.some((c) => c.type === 'Stalled') ? undefined : current;
  });
  assert.is(tenant.status?.lastUpload?.result, 'SUCCESS');
  const ready = tenant.status?.conditions?.find((c) => c.type === 'Ready');
  assert.is(ready?.status, 'True', 'Ready not restored after the upload landed');
  const remaining = (await sourceAccounts()).map((account) => account.nativeIdentity).sort();
  assert.equal(remaining, [...unmanaged.keys(), 'SA-REPORT'].sort());
  await assertUnmanagedKept();
});

test('schema mismatch stops uploads', async () => {
  const schema = (await isc.getAccountSchema(sourceId))!;
  await isc.replaceSchema(sourceId, {
    ...schema,
    attributes: [
      ...schema.attributes,
      {
        name: 'roles',
        type: 'STRING',
        description: 'multi-valued, which a csv-mode upload cannot write back',
        isMulti: true,
        isEntitlement: false,
        isGroup: false,
      },
    ],
  });
  const before = (await sourceAccounts()).length;
  await createServiceAccount('team', 'late', {
    accountId: 'SA-LATE',
    email: 'late@example.com',
    invite: false,
  });
  const tenant = await waitFor(
    'Tenant Stalled with SchemaMismatch',
    async () => {
      const current = await getTenant(customObjects, 'default');
      const stalled = current.status?.conditions?.find((c) => c.type === 'Stalled');
      return stalled?.reason === 'SchemaMismatch' ? current : undefined;
    },
    120_000,
  );
  const stalled = tenant.status!.conditions!.find((c) => c.type === 'Stalled')!;
  assert.match(stalled.message, 'roles');
  const ready = tenant.status!.conditions!.find((c) => c.type === 'Ready')!;
  assert.is(ready.status, 'False', 'Ready stays True beside Stalled');
  assert.is(ready.reason, 'SchemaMismatch');
  assert.is((await sourceAccounts()).length, before);

  const changed = (await isc.getAccountSchema(sourceId))!;
  await isc.replaceSchema(sourceId, {
    ...changed,
    attributes: changed.attributes.filter((attribute) => attribute.name !== 'roles'),
  });
  await waitFor(
    'SA-LATE in ISC',
    async () =>
      (await sourceAccounts()).some((account) => account.nativeIdentity === 'SA-LATE')
        ? true
        : undefined,
    180_000,
    1_000,
  );
  await assertUnmanagedKept();
});

test.run();

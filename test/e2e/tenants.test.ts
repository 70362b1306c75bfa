/**
 * Tenant resources end to end: two emulated tenants served by one operator process configured
 * only through Tenant resources, the default tenant, preflight failures and Secret rotation.
 */
import {
  ApiException,
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';
import { eq } from '../../src/isc/filters.ts';
import type { Account } from '../../src/isc/types.ts';
import {
  group,
  type ServiceAccount,
  serviceAccountPlural,
  type Tenant,
  tenantPlural,
  version,
} from '../../src/kube/types.ts';
import { credentialsNamespace, type E2eCluster, startE2eCluster } from '../support/e2e-cluster.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import {
  createTenant as createTenantResource,
  deleteResource,
  getResource,
  getTenant,
  isGone,
  patchResource,
} from '../support/resources.ts';
import { scanForIssuedSecrets } from '../support/secret-scan.ts';
import { waitFor } from '../support/wait.ts';

const production = { clientId: 'prod-operator', clientSecret: `p-${crypto.randomUUID()}` };
const sandbox = { clientId: 'sandbox-operator', clientSecret: `s-${crypto.randomUUID()}` };
const narrow = {
  clientId: 'narrow-operator',
  clientSecret: `n-${crypto.randomUUID()}`,
  scope: ['idn:accounts:read', 'sp:auth-user:read'],
};
const flaky = { clientId: 'flaky-operator', clientSecret: `f-${crypto.randomUUID()}` };
const helpdesk = {
  clientId: 'helpdesk-operator',
  clientSecret: `h-${crypto.randomUUID()}`,
  identityId: 'a0000000000000000000000000000001',
};

let e2e: E2eCluster;
let productionTenant: RunningEmulator;
let sandboxTenant: RunningEmulator;
let flakyTenant: RunningEmulator;
let kubeConfig: KubeConfig;
let customObjects: CustomObjectsApi;
let core: CoreV1Api;
let operator: OperatorProcess;

test.before(async () => {
  e2e = await startE2eCluster({ production, sandbox, helpdesk, narrow, flaky });
  ({ kubeConfig, customObjects, core } = e2e);
  productionTenant = await startEmulator({
    clients: [production, helpdesk, narrow],
    asyncDelayMs: 100,
    fixtures: {
      identities: [
        {
          id: helpdesk.identityId,
          alias: 'helpdesk.bot',
          email: 'helpdesk@example.com',
          firstname: 'helpdesk',
          lastname: 'bot',
          capabilities: ['HELPDESK'],
        },
      ],
    },
  });
  sandboxTenant = await startEmulator({ clients: [sandbox], asyncDelayMs: 100 });
  flakyTenant = await startEmulator({ clients: [flaky], asyncDelayMs: 100 });
  operator = startOperatorProcess({
    KUBECONFIG: e2e.cluster.kubeconfigPath,
    OPERATOR_RESYNC_SECONDS: '3',
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
    OPERATOR_METRICS_ADDRESS: 'off',
    LOG_LEVEL: 'debug',
  });
});

test.after(async () => {
  await operator?.stop();
  await productionTenant?.close();
  await sandboxTenant?.close();
  await flakyTenant?.close();
  await e2e?.cluster.stop();
});

async function createTenant(name: string, baseUrl: string, secret: string, annotations = {}) {
  await createTenantResource(
    customObjects,
    name,
    { baseUrl, credentialsSecretRef: { namespace: credentialsNamespace, name: secret } },
    annotations,
  );
}

async function tenantReason(name: string, reason: string): Promise<Tenant> {
  return waitFor(`Tenant ${name} to report ${reason}`, async () => {
    const tenant = await getTenant(customObjects, name);
    const ready = tenant.status?.conditions?.find((condition) => condition.type === 'Ready');
    return ready?.reason === reason ? tenant : undefined;
  });
}

async function createServiceAccount(name: string, spec: Record<string, unknown>) {
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    body: { apiVersion: `${group}/${version}`, kind: 'ServiceAccount', metadata: { name }, spec },
  });
}

async function serviceAccountReason(name: string, reason: string): Promise<ServiceAccount> {
  return waitFor(
    `${name} to report ${reason}`,
    async () => {
      const resource: ServiceAccount = await customObjects.getNamespacedCustomObject({
        group,
        version,
        namespace: 'default',
        plural: serviceAccountPlural,
        name,
      });
      const ready = resource.status?.conditions?.find((condition) => condition.type === 'Ready');
      return ready?.reason === reason ? resource : undefined;
    },
    90_000,
  );
}

function apiOf(emulator: RunningEmulator, credential: { clientId: string; clientSecret: string }) {
  return new IscApi(
    new IscClient({ baseUrl: emulator.url, ...credential, logger: pino({ level: 'silent' }) }),
  );
}

test('tenants connect and report their source', async () => {
  await createTenant('default', productionTenant.url, 'production');
  await createTenant('sandbox', sandboxTenant.url, 'sandbox');
  const ready = await tenantReason('default', 'Connected');
  assert.type(ready.status?.sourceId, 'string');
  assert.type(ready.status?.identityProfileId, 'string');
  assert.equal(ready.status?.capabilities, ['ORG_ADMIN']);
  assert.equal(ready.status?.problems, []);
  const source = await apiOf(productionTenant, production).findSourceByName('Service Accounts');
  assert.is(source?.id, ready.status?.sourceId);
  await tenantReason('sandbox', 'Connected');
});

test('tenant events record what was created', async () => {
  const events = await waitFor('Events of Tenant default', async () => {
    const list = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.kind=Tenant,involvedObject.name=default',
    });
    return list.items.length >= 3 ? list.items : undefined;
  });
  const reasons = events.map((event) => event.reason);
  assert.ok(reasons.includes('CreatedSource'), `reasons: ${reasons.join(', ')}`);
  assert.ok(reasons.includes('UpdatedAccountSchema'), `reasons: ${reasons.join(', ')}`);
  assert.ok(reasons.includes('CreatedIdentityProfile'), `reasons: ${reasons.join(', ')}`);
});

test('accounts land in the referenced tenant', async () => {
  await createServiceAccount('prod-bot', { accountId: 'SA-P1', email: 'prod@example.com' });
  await createServiceAccount('sandbox-bot', {
    accountId: 'SA-S1',
    email: 'sandbox@example.com',
    tenantRef: { name: 'sandbox' },
  });
  const prod = await serviceAccountReason('prod-bot', 'Converged');
  const sand = await serviceAccountReason('sandbox-bot', 'Converged');
  assert.is(prod.status?.tenant, 'default');
  assert.is(sand.status?.tenant, 'sandbox');

  const prodApi = apiOf(productionTenant, production);
  const sandApi = apiOf(sandboxTenant, sandbox);
  const prodSource = (await prodApi.findSourceByName('Service Accounts'))!;
  const sandSource = (await sandApi.findSourceByName('Service Accounts'))!;
  assert.ok(await prodApi.findAccount(prodSource.id, 'SA-P1'), 'SA-P1 missing in production');
  assert.ok(await sandApi.findAccount(sandSource.id, 'SA-S1'), 'SA-S1 missing in sandbox');
  assert.is(await prodApi.findAccount(prodSource.id, 'SA-S1'), undefined, 'SA-S1 leaked');
  assert.is(await sandApi.findAccount(sandSource.id, 'SA-P1'), undefined, 'SA-P1 leaked');
});

/** Returns the accounts on the tenant's service-account source with this id. */
async function accountsWithId(api: IscApi, accountId: string): Promise<Account[]> {
  const source = (await api.findSourceByName('Service Accounts'))!;
  const found: Account[] = [];
  for await (const account of api.list<Account>('accounts', '', {
    filters: eq('sourceId', source.id),
    sorters: 'id',
  })) {
    if (account.nativeIdentity.toLowerCase() === accountId.toLowerCase()) found.push(account);
  }
  return found;
}

test('same account id on two tenants', async () => {
  await createServiceAccount('shared-prod', { accountId: 'SA-SHARED', email: 'p@example.com' });
  await createServiceAccount('shared-sandbox', {
    accountId: 'SA-SHARED',
    email: 'shared-sandbox@example.com',
    tenantRef: { name: 'sandbox' },
  });
  const prod = await serviceAccountReason('shared-prod', 'Converged');
  const sand = await serviceAccountReason('shared-sandbox', 'Converged');
  assert.is(prod.status?.tenant, 'default');
  assert.is(sand.status?.tenant, 'sandbox');

  const prodAccounts = await accountsWithId(apiOf(productionTenant, production), 'SA-SHARED');
  const sandAccounts = await accountsWithId(apiOf(sandboxTenant, sandbox), 'SA-SHARED');
  assert.is(prodAccounts.length, 1, 'accounts SA-SHARED in production');
  assert.is(sandAccounts.length, 1, 'accounts SA-SHARED in sandbox');
  assert.is(prodAccounts[0]?.attributes?.['e-mail'], 'p@example.com');
  assert.is(sandAccounts[0]?.attributes?.['e-mail'], 'shared-sandbox@example.com');
});

test('explicit default tenant ref is the same tenant', async () => {
  // shared-prod names no Tenant and so lives in "default"; naming it explicitly collides.
  await createServiceAccount('shared-explicit', {
    accountId: 'sa-shared',
    email: 'explicit@example.com',
    tenantRef: { name: 'default' },
  });
  const explicit = await serviceAccountReason('shared-explicit', 'DuplicateAccountId');
  const ready = explicit.status?.conditions?.find((condition) => condition.type === 'Ready');
  assert.match(ready!.message, 'default/shared-prod');

  // Deleting the stalled duplicate leaves the account of the older claim alone.
  await customObjects.deleteNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'shared-explicit',
  });
  await waitFor('shared-explicit to be deleted', async () => {
    try {
      await customObjects.getNamespacedCustomObject({
        group,
        version,
        namespace: 'default',
        plural: serviceAccountPlural,
        name: 'shared-explicit',
      });
      return undefined;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return true;
      throw error;
    }
  });
  const prodAccounts = await accountsWithId(apiOf(productionTenant, production), 'SA-SHARED');
  assert.is(prodAccounts.length, 1, 'accounts SA-SHARED in production');
  assert.is(prodAccounts[0]?.attributes?.['e-mail'], 'p@example.com');
});

test('steady-state resync reads accounts in pages', async () => {
  // One resync period first, so that polls from the convergence above are over.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  productionTenant.clearCalls();
  // Three resync periods of 3 s each.
  await new Promise((resolve) => setTimeout(resolve, 9_000));
  const calls = productionTenant.calls.filter((call) => call.clientId === production.clientId);
  const writes = calls.filter((call) => call.method !== 'GET' && call.path !== '/oauth/token');
  assert.equal(writes, [], 'a converged tenant was written to during resyncs');
  const accountReads = calls.filter((call) => call.path === '/v2025/accounts');
  assert.ok(accountReads.length > 0, 'no resync read the accounts');
  for (const read of accountReads) {
    assert.not.match(
      String(read.query.filters),
      'nativeIdentity',
      'a resync looked up one account',
    );
  }
  const identityReads = calls.filter((call) => call.path.startsWith('/v2025/identities/'));
  assert.equal(identityReads, [], 'a resync read identities one by one');
});

test('missing tenant is reported', async () => {
  await createServiceAccount('lost-bot', {
    accountId: 'SA-L1',
    email: 'lost@example.com',
    tenantRef: { name: 'nowhere' },
  });
  const lost = await serviceAccountReason('lost-bot', 'TenantNotFound');
  const ready = lost.status?.conditions?.find((condition) => condition.type === 'Ready');
  assert.match(ready!.message, 'Tenant "nowhere" does not exist');
  assert.match(
    ready!.message,
    'delete this resource and create it again with another spec.tenantRef',
  );
  assert.not.match(ready!.message, 'or set spec.tenantRef');
});

test('missing Secret is reported', async () => {
  await createTenant('no-secret', sandboxTenant.url, 'does-not-exist');
  const tenant = await tenantReason('no-secret', 'SecretNotFound');
  const ready = tenant.status?.conditions?.find((condition) => condition.type === 'Ready');
  assert.match(ready!.message, 'isc-system/does-not-exist');
});

test('preflight names a missing user level', async () => {
  await createTenant('helpdesk', productionTenant.url, 'helpdesk');
  const tenant = await tenantReason('helpdesk', 'PreflightFailed');
  assert.equal(tenant.status?.capabilities, ['HELPDESK']);
  assert.match(tenant.status?.problems?.join(' ') ?? '', 'needs ORG_ADMIN');

  await createServiceAccount('blocked-bot', {
    accountId: 'SA-H1',
    email: 'blocked@example.com',
    tenantRef: { name: 'helpdesk' },
  });
  const blocked = await serviceAccountReason('blocked-bot', 'TenantNotReady');
  const ready = blocked.status?.conditions?.find((condition) => condition.type === 'Ready');
  assert.match(ready!.message, 'ORG_ADMIN');
});

test('preflight names missing scopes', async () => {
  await createTenant('narrow', productionTenant.url, 'narrow');
  const tenant = await tenantReason('narrow', 'PreflightFailed');
  const problems = tenant.status?.problems?.join(' ') ?? '';
  assert.match(problems, 'lacks the scopes');
  assert.match(problems, 'idn:accounts:manage');
  assert.not.match(problems, 'sp:auth-user:read');
});

test('rotated Secret is picked up', async () => {
  await core.patchNamespacedSecret(
    {
      namespace: 'isc-system',
      name: 'sandbox',
      body: { stringData: { clientSecret: 'revoked' } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await tenantReason('sandbox', 'Unauthorized');
  await core.patchNamespacedSecret(
    {
      namespace: 'isc-system',
      name: 'sandbox',
      body: { stringData: { clientSecret: sandbox.clientSecret } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await tenantReason('sandbox', 'Connected');
});

async function setFlakySecret(clientSecret: string) {
  await core.patchNamespacedSecret(
    { namespace: credentialsNamespace, name: 'flaky', body: { stringData: { clientSecret } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Creates ServiceAccounts on the Tenant "flaky" and waits until each converged. */
async function createFlakyAccounts(names: Record<string, string>) {
  for (const [name, accountId] of Object.entries(names)) {
    await createServiceAccount(name, {
      accountId,
      email: `${name}@example.com`,
      tenantRef: { name: 'flaky' },
    });
  }
  for (const name of Object.keys(names)) await serviceAccountReason(name, 'Converged');
}

async function setOrphanAndDelete(name: string) {
  await patchResource(customObjects, 'default', name, [
    { op: 'add', path: '/spec/deletionPolicy', value: 'Orphan' },
  ]);
  await deleteResource(customObjects, 'default', name);
}

async function waitGone(name: string) {
  await waitFor(`${name} to be deleted`, () =>
    isGone(customObjects, 'default', name).then((gone) => gone || undefined),
  );
}

/** Waits until a deleting resource reports `reason` and returns its Ready message. */
async function deletionWaits(name: string, reason: string): Promise<string> {
  const waiting = await waitFor(`${name} to wait for its Tenant while deleting`, async () => {
    const resource = await getResource(customObjects, 'default', name);
    const ready = resource.status?.conditions?.find((condition) => condition.type === 'Ready');
    const waits = resource.metadata.deletionTimestamp && ready?.reason === reason;
    return waits && ready.message.includes('deletionPolicy') ? ready : undefined;
  });
  return waiting.message;
}

async function orphanEvent(name: string): Promise<string | undefined> {
  const events = await core.listNamespacedEvent({ namespace: 'default' });
  const event = events.items.find(
    (item) => item.involvedObject.name === name && item.reason === 'OrphanedAccount',
  );
  return event?.message;
}

test('orphan deletion skips an unavailable tenant', async () => {
  await createTenant('flaky', flakyTenant.url, 'flaky');
  await tenantReason('flaky', 'Connected');
  await createFlakyAccounts({ 'down-orphan': 'SA-F1', 'down-kept': 'SA-F2' });

  flakyTenant.setFaults({ errors: [{ status: 503 }] });
  try {
    await tenantReason('flaky', 'IscUnavailable');
    await serviceAccountReason('down-orphan', 'TenantNotReady');
    await serviceAccountReason('down-kept', 'TenantNotReady');
    await setOrphanAndDelete('down-orphan');
    await deleteResource(customObjects, 'default', 'down-kept');

    await waitGone('down-orphan');
    const event = await orphanEvent('down-orphan');
    assert.match(event ?? '', 'deletionPolicy Orphan: left account SA-F1');
    const message = await deletionWaits('down-kept', 'TenantNotReady');
    assert.match(message, 'The deletion waits for the Tenant');
    assert.match(message, 'set spec.deletionPolicy to Orphan');
  } finally {
    // Later tests need the tenant back, also when this one fails.
    flakyTenant.clearFaults();
  }

  await waitGone('down-kept');
  const api = apiOf(flakyTenant, flaky);
  assert.is((await accountsWithId(api, 'SA-F1')).length, 1, 'the Orphan account SA-F1 is gone');
  assert.is((await accountsWithId(api, 'SA-F2')).length, 0, 'SA-F2 was not deleted');
});

test('orphan deletion skips a rejected credential', async () => {
  await tenantReason('flaky', 'Connected');
  await createFlakyAccounts({ 'denied-orphan': 'SA-F3', 'denied-kept': 'SA-F4' });

  await setFlakySecret('revoked');
  try {
    const tenant = await tenantReason('flaky', 'Unauthorized');
    const tenantReady = tenant.status?.conditions?.find((condition) => condition.type === 'Ready');
    assert.match(
      tenantReady!.message,
      `check the ISC client id and secret in Secret ${credentialsNamespace}/flaky`,
    );
    await serviceAccountReason('denied-orphan', 'TenantNotReady');
    await serviceAccountReason('denied-kept', 'TenantNotReady');
    await setOrphanAndDelete('denied-orphan');
    await deleteResource(customObjects, 'default', 'denied-kept');

    await waitGone('denied-orphan');
    await deletionWaits('denied-kept', 'TenantNotReady');
  } finally {
    await setFlakySecret(flaky.clientSecret);
  }
  await waitGone('denied-kept');
  const api = apiOf(flakyTenant, flaky);
  assert.is((await accountsWithId(api, 'SA-F3')).length, 1, 'the Orphan account SA-F3 is gone');
  assert.is((await accountsWithId(api, 'SA-F4')).length, 0, 'SA-F4 was not deleted');
});

test('orphan deletion skips a deleted tenant', async () => {
  await tenantReason('flaky', 'Connected');
  await createFlakyAccounts({ 'lost-orphan': 'SA-F5', 'lost-kept': 'SA-F6' });

  await customObjects.deleteClusterCustomObject({
    group,
    version,
    plural: tenantPlural,
    name: 'flaky',
  });
  await serviceAccountReason('lost-orphan', 'TenantNotFound');
  await serviceAccountReason('lost-kept', 'TenantNotFound');
  await setOrphanAndDelete('lost-orphan');
  await deleteResource(customObjects, 'default', 'lost-kept');

  await waitGone('lost-orphan');
  const message = await deletionWaits('lost-kept', 'TenantNotFound');
  assert.match(message, 'Tenant "flaky" does not exist');
  assert.match(message, 'set spec.deletionPolicy to Orphan');

  await patchResource(customObjects, 'default', 'lost-kept', [
    { op: 'add', path: '/spec/deletionPolicy', value: 'Orphan' },
  ]);
  await waitGone('lost-kept');
  const api = apiOf(flakyTenant, flaky);
  assert.is((await accountsWithId(api, 'SA-F5')).length, 1, 'the Orphan account SA-F5 is gone');
  assert.is((await accountsWithId(api, 'SA-F6')).length, 1, 'SA-F6 was deleted');
});

test('operator log has no tenant secret', () => {
  const output = operator.output();
  for (const credential of [production, sandbox, helpdesk, narrow, flaky]) {
    assert.not.ok(output.includes(credential.clientSecret), `${credential.clientId} secret logged`);
  }
});

test('logs, Events and status hold no issued secret', async () => {
  for (const tenant of [productionTenant, sandboxTenant, flakyTenant]) {
    const scan = await scanForIssuedSecrets({
      emulatorUrl: tenant.url,
      kubeConfig,
      operatorLogs: [operator.output()],
    });
    assert.ok(scan.scanned.secrets > 0, `no secret issued by ${tenant.url}`);
    assert.equal(scan.findings, []);
  }
});

test('emulators saw no contract violation', () => {
  assert.equal(productionTenant.contractViolations, []);
  assert.equal(sandboxTenant.contractViolations, []);
  assert.equal(flakyTenant.contractViolations, []);
});

test.run();

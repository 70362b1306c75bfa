/**
 * End to end: a real kube-apiserver, the ISC emulator over HTTP and the operator as its own
 * process. Tenant state is read back through the ISC REST API with a second credential, so the
 * checks hold for any tenant, not only for the emulator's internals.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyExamples } from '../../src/cli/demo.ts';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';
import type {
  Account,
  Identity,
  IdentityProfile,
  Source,
  SourceSchema,
} from '../../src/isc/types.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { installCrds } from '../../src/kube/crds.ts';
import {
  group,
  reconcileNowAnnotation,
  type ServiceAccount,
  serviceAccountPlural,
  version,
} from '../../src/kube/types.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { scanForIssuedSecrets } from '../support/secret-scan.ts';
import { waitFor } from '../support/wait.ts';

const operatorClient = { clientId: 'e2e-operator', clientSecret: `op-${crypto.randomUUID()}` };
const inspectorClient = { clientId: 'e2e-inspector', clientSecret: `in-${crypto.randomUUID()}` };

let cluster: LocalCluster;
let emulator: RunningEmulator;
let kubeConfig: KubeConfig;
let customObjects: CustomObjectsApi;
let operator: OperatorProcess;
let isc: IscApi;

test.before(async () => {
  cluster = await startLocalCluster();
  emulator = await startEmulator({ clients: [operatorClient, inspectorClient], asyncDelayMs: 200 });
  kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(kubeConfig);

  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'isc-system' } } });
  await core.createNamespacedSecret({
    namespace: 'isc-system',
    body: { metadata: { name: 'isc-credentials' }, stringData: operatorClient },
  });

  operator = startOperatorProcess({
    KUBECONFIG: cluster.kubeconfigPath,
    ISC_BASE_URL: emulator.url,
    ISC_CREDENTIALS_SECRET: 'isc-system/isc-credentials',
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
    OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
    OPERATOR_LEADER_ELECTION: 'true',
    OPERATOR_LEADER_ELECTION_NAMESPACE: 'isc-system',
    LOG_LEVEL: 'debug',
  });
  isc = new IscApi(
    new IscClient({ baseUrl: emulator.url, ...inspectorClient, logger: pino({ level: 'silent' }) }),
  );
});

test.after(async () => {
  await operator?.stop();
  await emulator?.close();
  await cluster?.stop();
});

async function getResource(name: string): Promise<ServiceAccount> {
  return customObjects.getNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name,
  });
}

function readyCondition(resource: ServiceAccount) {
  return resource.status?.conditions?.find((condition) => condition.type === 'Ready');
}

async function waitReady(name: string, generation?: number): Promise<ServiceAccount> {
  return waitFor(
    `${name} to be Ready`,
    async () => {
      const resource = await getResource(name);
      const ready = readyCondition(resource);
      if (ready?.status !== 'True') return undefined;
      if (generation !== undefined && resource.status?.observedGeneration !== generation)
        return undefined;
      return resource;
    },
    90_000,
  );
}

async function listAll<T extends { id: string }>(
  service: string,
  filters?: string,
  sorters = 'id',
) {
  const items: T[] = [];
  for await (const item of isc.list<T>(service, '', { ...(filters ? { filters } : {}), sorters })) {
    items.push(item);
  }
  return items;
}

const exampleNames = ['access-review-bot', 'audit01', 'ci-deployer'];

test('examples converge to Ready', async () => {
  const applied = await applyExamples(kubeConfig);
  assert.equal(
    applied.sort(),
    exampleNames.map((name) => `default/${name}`),
  );
  for (const name of exampleNames) await waitReady(name);
});

test('tenant holds one source with the four-column schema', async () => {
  const sources = await listAll<Source>('sources', 'name eq "Service Accounts"', 'name');
  assert.is(sources.length, 1);
  assert.is(sources[0]!.type, 'DelimitedFile');
  const schema = (await isc.getAccountSchema(sources[0]!.id)) as SourceSchema;
  assert.equal(
    schema.attributes.map((attribute) => attribute.name),
    ['id', 'name', 'e-mail', 'purpose'],
  );
  assert.is(schema.identityAttribute, 'id');
  assert.is(schema.displayAttribute, 'name');
});

test('tenant holds one profile with four mappings', async () => {
  const [source] = await listAll<Source>('sources', 'name eq "Service Accounts"', 'name');
  const profiles = await listAll<IdentityProfile>('identity-profiles', undefined, 'name');
  assert.is(profiles.length, 1);
  const profile = profiles[0]!;
  assert.is(profile.name, 'Service Accounts');
  assert.is(profile.authoritativeSource.id, source!.id);
  const mappings = Object.fromEntries(
    (profile.identityAttributeConfig?.attributeTransforms ?? []).map((transform) => [
      transform.identityAttributeName,
      transform.transformDefinition.attributes.attributeName,
    ]),
  );
  assert.equal(mappings, { uid: 'name', email: 'e-mail', lastname: 'name', firstname: 'name' });
});

test('tenant holds exactly the three accounts', async () => {
  const [source] = await listAll<Source>('sources', 'name eq "Service Accounts"', 'name');
  const accounts = await listAll<Account>('accounts', `sourceId eq "${source!.id}"`);
  assert.is(accounts.length, 3);

  const audit = accounts.find((account) => account.nativeIdentity === 'SA-001');
  assert.ok(audit, 'no account with id SA-001');
  assert.is(audit!.name, 'audit01');
  assert.equal(
    { ...audit!.attributes },
    {
      ...audit!.attributes,
      id: 'SA-001',
      name: 'audit01',
      'e-mail': 'admin@example.com',
      purpose: 'Automate monthly audit report',
    },
  );
  const names = accounts.map((account) => account.name).sort();
  assert.equal(names, ['access-review-bot', 'audit01', 'ci-deployer']);
});

test('identities carry the mapped attributes', async () => {
  for (const name of exampleNames) {
    const resource = await getResource(name);
    const identity = (await isc.getIdentity(resource.status!.identityId!)) as Identity;
    assert.ok(identity, `identity of ${name} not found`);
    const accountName = resource.spec.name ?? name;
    assert.is(identity.attributes?.uid, accountName, `uid of ${name}`);
    assert.is(identity.attributes?.firstname, accountName, `firstname of ${name}`);
    assert.is(identity.attributes?.lastname, accountName, `lastname of ${name}`);
    assert.is(identity.attributes?.email, resource.spec.email, `email of ${name}`);
  }
});

test('status records ids and generation', async () => {
  const [source] = await listAll<Source>('sources', 'name eq "Service Accounts"', 'name');
  for (const name of exampleNames) {
    const resource = await getResource(name);
    const account = await isc.findAccount(source!.id, resource.spec.accountId!);
    assert.ok(account, `account of ${name} not found`);
    assert.is(resource.status?.accountId, account!.id, `accountId of ${name}`);
    assert.is(resource.status?.identityId, account!.identityId, `identityId of ${name}`);
    assert.is(
      resource.status?.observedGeneration,
      resource.metadata.generation,
      `generation of ${name}`,
    );
    assert.is(readyCondition(resource)?.reason, 'Converged');
    assert.is(resource.status?.accountCreateRequestedAt, undefined, `create marker of ${name}`);
  }
});

/** Invitation mails the emulator sent to the identity of this resource. */
async function invitationsSent(name: string): Promise<number> {
  const identityId = (await getResource(name)).status?.identityId;
  return (identityId && emulator.state.identities.get(identityId)?.invitationsSent) || 0;
}

test('invitation is sent once per identity', async () => {
  // Invitations go out in batches shortly after the status records them.
  for (const name of exampleNames) {
    await waitFor(`the invitation of ${name}`, async () =>
      (await invitationsSent(name)) > 0 ? true : undefined,
    );
  }
  const invites = emulator.calls.filter(
    (call) => call.clientId === operatorClient.clientId && call.path === '/v2025/identities/invite',
  );
  assert.ok(invites.length >= 1, 'no invitation request');
  assert.ok(invites.length <= exampleNames.length, `${invites.length} invitation requests`);
  assert.ok(
    invites.every((call) => call.status === 202),
    'an invitation was not accepted',
  );
  for (const name of exampleNames) {
    const resource = await getResource(name);
    assert.type(resource.status?.invitation?.sentAt, 'string', `invitation of ${name}`);
    assert.is(resource.status?.invitation?.count, 1, `invitation count of ${name}`);
    assert.is(await invitationsSent(name), 1, `invitation mails to ${name}`);
  }
});

test('invitation is resent on annotation', async () => {
  emulator.clearCalls();
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'ci-deployer',
    body: [
      { op: 'add', path: '/metadata/annotations', value: { 'isc.sailpoint/resend-invite': '1' } },
    ],
  });
  const resent = await waitFor('a second invitation', async () => {
    const resource = await getResource('ci-deployer');
    return resource.status?.invitation?.count === 2 ? resource : undefined;
  });
  assert.is(resent.status?.invitation?.handledResendRequest, '1');
  await waitFor('the second invitation mail', async () =>
    (await invitationsSent('ci-deployer')) === 2 ? true : undefined,
  );
  const invites = emulator.calls.filter(
    (call) => call.clientId === operatorClient.clientId && call.path === '/v2025/identities/invite',
  );
  assert.is(invites.length, 1);
});

test('generated account id is written to spec', async () => {
  const resource = await getResource('access-review-bot');
  assert.match(resource.spec.accountId ?? '', /^sa-[0-9a-f]{12}$/);
});

test('reconcile of converged resources writes nothing', async () => {
  emulator.clearCalls();
  const marker = `check-${Date.now()}`;
  for (const name of exampleNames) {
    await customObjects.patchNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural: serviceAccountPlural,
      name,
      body: [
        { op: 'add', path: `/metadata/annotations`, value: { [reconcileNowAnnotation]: marker } },
      ],
    });
  }
  for (const name of exampleNames) {
    await waitFor(`${name} to handle the reconcile request`, async () => {
      const resource = await getResource(name);
      return resource.status?.lastHandledReconcileAt === marker ? resource : undefined;
    });
  }
  const operatorCalls = emulator.calls.filter((call) => call.clientId === operatorClient.clientId);
  const writes = operatorCalls.filter((call) => call.method !== 'GET');
  assert.ok(operatorCalls.length > 0, 'the operator made no ISC call at all; did it reconcile?');
  assert.equal(writes, []);
});

test('spec update reaches the account', async () => {
  const before = await getResource('ci-deployer');
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'ci-deployer',
    body: [{ op: 'replace', path: '/spec/purpose', value: 'Deploy from the release pipeline' }],
  });
  const after = await waitReady('ci-deployer', before.metadata!.generation! + 1);
  const [source] = await listAll<Source>('sources', 'name eq "Service Accounts"', 'name');
  const account = await isc.findAccount(source!.id, 'SA-002');
  assert.is(account?.attributes?.purpose, 'Deploy from the release pipeline');
  assert.is(after.status?.observedGeneration, before.metadata!.generation! + 1);
});

/** Completes the invitation of the resource's identity, as its user would. */
async function registerIdentity(name: string): Promise<void> {
  const identityId = (await getResource(name)).status!.identityId!;
  const response = await fetch(`${emulator.url}/__admin/identities/${identityId}/register`, {
    method: 'POST',
  });
  assert.is(response.status, 204, await response.text());
}

test('one reconcile-now notices a registration', async () => {
  await waitFor('the invitation of audit01', async () =>
    (await invitationsSent('audit01')) > 0 ? true : undefined,
  );
  await registerIdentity('audit01');
  const marker = `registration-${Date.now()}`;
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'audit01',
    body: [
      { op: 'add', path: '/metadata/annotations', value: { [reconcileNowAnnotation]: marker } },
    ],
  });
  const handled = await waitFor('audit01 to handle the reconcile request', async () => {
    const resource = await getResource('audit01');
    return resource.status?.lastHandledReconcileAt === marker ? resource : undefined;
  });
  assert.is(handled.status?.invitation?.registered, true);
  assert.is(readyCondition(handled)?.status, 'True');
});

test('spec change notices a registration', async () => {
  await createResource('registration-bot', {
    accountId: 'SA-450',
    email: 'registration-bot@example.com',
  });
  const created = await waitReady('registration-bot');
  await waitFor('the invitation of registration-bot', async () =>
    (await invitationsSent('registration-bot')) > 0 ? true : undefined,
  );
  await registerIdentity('registration-bot');
  // A user level changes neither the account nor the identity's attributes.
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'registration-bot',
    body: [{ op: 'add', path: '/spec/userLevel', value: ['HELPDESK'] }],
  });
  const changed = await waitReady('registration-bot', created.metadata!.generation! + 1);
  assert.is(changed.status?.invitation?.registered, true);
  await deleteResource('registration-bot');
});

async function createResource(name: string, spec: Record<string, unknown>): Promise<void> {
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    body: { apiVersion: `${group}/${version}`, kind: 'ServiceAccount', metadata: { name }, spec },
  });
}

async function deleteResource(name: string): Promise<void> {
  await customObjects.deleteNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name,
  });
  await waitFor(`${name} to be gone`, async () => {
    try {
      await getResource(name);
      return undefined;
    } catch {
      return true;
    }
  });
}

async function serviceAccountSource(): Promise<Source> {
  const [source] = await listAll<Source>('sources', 'name eq "Service Accounts"', 'name');
  return source!;
}

test('events record the account create', async () => {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const events = await core.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: 'involvedObject.name=audit01',
  });
  const reasons = events.items.map((event) => event.reason);
  assert.ok(reasons.includes('CreatingAccount'), `events of audit01: ${reasons.join(', ')}`);
});

test('deletion removes an owned account', async () => {
  const source = await serviceAccountSource();
  const resource = await getResource('access-review-bot');
  assert.ok(resource.metadata.finalizers?.includes('isc.sailpoint/account-cleanup'));
  assert.is(resource.status?.accountOwned, true);

  await deleteResource('access-review-bot');
  const account = await isc.findAccount(source.id, resource.spec.accountId!);
  assert.is(account, undefined, 'the account outlived its resource');
});

test('deletion during a slow create removes the account', async () => {
  const source = await serviceAccountSource();
  emulator.setFaults({ taskDelayMs: { accountCreate: 3_000 } });
  try {
    await createResource('short-lived', { accountId: 'SA-150', email: 'short@example.com' });
    await waitFor('the create request', async () => {
      const resource = await getResource('short-lived');
      return resource.status?.accountCreateRequestedAt ? resource : undefined;
    });
    await deleteResource('short-lived');
  } finally {
    emulator.clearFaults();
  }
  assert.is(
    await isc.findAccount(source.id, 'SA-150'),
    undefined,
    'the account outlived its resource',
  );
});

test('one spec change sends one update', async () => {
  emulator.clearCalls();
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'audit01',
    body: [{ op: 'replace', path: '/spec/purpose', value: 'Automate the quarterly audit report' }],
  });
  const before = await getResource('audit01');
  await waitReady('audit01', before.metadata!.generation);
  const updates = emulator.calls.filter(
    (call) => call.clientId === operatorClient.clientId && call.method === 'PUT',
  );
  assert.is(updates.length, 1, `account updates sent: ${updates.length}`);
});

test('orphan policy keeps the account', async () => {
  await createResource('orphan-me', {
    accountId: 'SA-100',
    email: 'orphan@example.com',
    purpose: 'Kept after deletion',
    deletionPolicy: 'Orphan',
  });
  await waitReady('orphan-me');
  const resource = await getResource('orphan-me');
  assert.not.ok(resource.metadata.finalizers?.includes('isc.sailpoint/account-cleanup'));

  await deleteResource('orphan-me');
  const account = await isc.findAccount((await serviceAccountSource()).id, 'SA-100');
  assert.ok(account, 'the account was deleted despite deletionPolicy Orphan');
});

test('foreign account is left alone without adopt', async () => {
  const source = await serviceAccountSource();
  await isc.createAccount(source.id, {
    id: 'SA-200',
    name: 'hand-made',
    'e-mail': 'someone@example.com',
    purpose: 'Created by a person',
  });
  await waitFor('the hand-made account', () => isc.findAccount(source.id, 'SA-200'));
  // Earlier resources may still have an invitation queued for the next bulk request.
  await operatorQuiet();
  emulator.clearCalls();

  await createResource('hand-made', { accountId: 'SA-200', email: 'ops@example.com' });
  const stalled = await waitFor('hand-made to stall', async () => {
    const resource = await getResource('hand-made');
    return readyCondition(resource)?.reason === 'AccountNotOwned' ? resource : undefined;
  });
  assert.match(readyCondition(stalled)!.message, 'spec.adopt');
  assert.ok(stalled.status?.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True'));
  const account = await isc.findAccount(source.id, 'SA-200');
  assert.is(account?.attributes?.['e-mail'], 'someone@example.com', 'the foreign account changed');
  const writes = emulator.calls.filter(
    (call) => call.clientId === operatorClient.clientId && call.method !== 'GET',
  );
  assert.equal(writes, [], 'the operator wrote to ISC for a foreign account');
});

test('adopt takes over the foreign account', async () => {
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'hand-made',
    body: [{ op: 'add', path: '/spec/adopt', value: true }],
  });
  const adopted = await waitReady('hand-made', 2);
  assert.is(adopted.status?.accountOwned, true);
  const account = await isc.findAccount((await serviceAccountSource()).id, 'SA-200');
  assert.is(account?.attributes?.['e-mail'], 'ops@example.com');
});

function condition(resource: ServiceAccount, type: string) {
  return resource.status?.conditions?.find((entry) => entry.type === type);
}

/**
 * Waits until the operator has sent no write to ISC for 3 s, counted from now. A write queued
 * for the next bulk request (an invitation goes out about 1 s later) must not land in the
 * calls that the caller checks next.
 */
async function operatorQuiet(): Promise<void> {
  const since = Date.now();
  await waitFor(
    'the operator to stop writing to ISC',
    async () => {
      const quietSince = Math.max(since, operatorWrites().at(-1)?.startedAt ?? 0);
      return Date.now() - quietSince > 3_000 ? true : undefined;
    },
    30_000,
    500,
  );
}

function operatorWrites() {
  return emulator.calls.filter(
    (call) => call.clientId === operatorClient.clientId && call.method !== 'GET',
  );
}

test('observe-only reports drift and writes nothing', async () => {
  const source = await serviceAccountSource();
  await isc.createAccount(source.id, {
    id: 'SA-300',
    name: 'observed',
    'e-mail': 'observed@example.com',
    purpose: 'Made elsewhere',
  });
  await waitFor('the observed account', () => isc.findAccount(source.id, 'SA-300'));
  await operatorQuiet();
  emulator.clearCalls();

  await createResource('observed', {
    accountId: 'SA-300',
    email: 'observed@example.com',
    purpose: 'What Git says',
    managementPolicy: 'ObserveOnly',
  });
  const resource = await waitFor('observed to report drift', async () => {
    const current = await getResource('observed');
    return condition(current, 'Synced')?.reason === 'DriftDetected' ? current : undefined;
  });
  assert.is(condition(resource, 'Ready')?.status, 'True');
  assert.is(condition(resource, 'Ready')?.reason, 'Observed');
  assert.match(condition(resource, 'Synced')!.message, 'purpose');
  assert.not.ok(resource.metadata.finalizers?.includes('isc.sailpoint/account-cleanup'));
  assert.equal(operatorWrites(), []);
  const account = await isc.findAccount(source.id, 'SA-300');
  assert.is(account?.attributes?.purpose, 'Made elsewhere');
});

test('paused resource writes nothing until resumed', async () => {
  emulator.clearCalls();
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name: 'paused', annotations: { 'isc.sailpoint/paused': 'true' } },
      spec: { accountId: 'SA-400', email: 'paused@example.com' },
    },
  });
  const paused = await waitFor('paused to report Paused', async () => {
    const current = await getResource('paused');
    return condition(current, 'Synced')?.reason === 'Paused' ? current : undefined;
  });
  assert.is(condition(paused, 'Synced')?.status, 'False');
  assert.equal(operatorWrites(), []);
  assert.is(await isc.findAccount((await serviceAccountSource()).id, 'SA-400'), undefined);

  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'paused',
    body: [{ op: 'remove', path: '/metadata/annotations/isc.sailpoint~1paused' }],
  });
  const resumed = await waitReady('paused');
  assert.is(condition(resumed, 'Synced')?.status, 'True');
});

test('user levels are granted and policed', async () => {
  await createResource('helpdesk-bot', {
    accountId: 'SA-500',
    email: 'helpdesk-bot@example.com',
    userLevel: ['HELPDESK'],
  });
  const granted = await waitFor('helpdesk-bot to record its user level', async () => {
    const resource = await getResource('helpdesk-bot');
    return resource.status?.userLevelsAdded?.includes('HELPDESK') ? resource : undefined;
  });
  const identityId = granted.status!.identityId!;
  const capabilities = await isc.getAuthUserCapabilities(identityId);
  assert.ok(capabilities?.includes('HELPDESK'), `capabilities: ${capabilities?.join(', ')}`);

  // A person removes the level by hand; the next reconcile restores it.
  await isc.setAuthUserCapabilities(identityId, []);
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'helpdesk-bot',
    body: [
      { op: 'add', path: '/metadata/annotations', value: { [reconcileNowAnnotation]: 'restore' } },
    ],
  });
  const restored = await waitFor('the level to be restored', async () => {
    const levels = await isc.getAuthUserCapabilities(identityId);
    return levels?.includes('HELPDESK') ? levels : undefined;
  });
  assert.ok(restored.includes('HELPDESK'));

  await createResource('greedy-bot', {
    accountId: 'SA-501',
    email: 'greedy@example.com',
    userLevel: ['ORG_ADMIN'],
  });
  const refused = await waitFor('greedy-bot to stall', async () => {
    const resource = await getResource('greedy-bot');
    return condition(resource, 'Ready')?.reason === 'UserLevelNotAllowed' ? resource : undefined;
  });
  assert.match(condition(refused, 'Ready')!.message, 'ORG_ADMIN');
  assert.is(await isc.findAccount((await serviceAccountSource()).id, 'SA-501'), undefined);
});

let mintedSecret = '';

test('token is minted into its Secret', async () => {
  const audit = await getResource('audit01');
  const identityId = audit.status!.identityId!;
  const bootstrap = (await (
    await fetch(
      `${emulator.url}/__admin/identities/${identityId}/personal-access-tokens?name=bootstrap`,
      { method: 'POST' },
    )
  ).json()) as { id: string; secret: string };
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({
    namespace: 'default',
    body: {
      metadata: { name: 'audit01-bootstrap' },
      stringData: { clientId: bootstrap.id, clientSecret: bootstrap.secret },
    },
  });
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'audit01',
    body: [
      {
        op: 'add',
        path: '/spec/bootstrapCredentialsSecretRef',
        value: { name: 'audit01-bootstrap' },
      },
      {
        op: 'add',
        path: '/spec/tokens',
        value: [
          { name: 'reporting', scopes: ['idn:accounts:read'], secretName: 'audit01-reporting' },
        ],
      },
    ],
  });
  const minted = await waitFor('the reporting token', async () => {
    const resource = await getResource('audit01');
    return resource.status?.tokens?.find((token) => token.name === 'reporting' && token.id)
      ? resource
      : undefined;
  });
  const secret = await core.readNamespacedSecret({
    namespace: 'default',
    name: 'audit01-reporting',
  });
  const data = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value, 'base64').toString(),
    ]),
  );
  assert.is(data.clientId, minted.status!.tokens![0]!.id);
  assert.is(data.tokenUrl, `${emulator.url}/oauth/token`);
  assert.is(secret.metadata?.ownerReferences?.[0]?.uid, minted.metadata.uid);
  assert.is(secret.metadata?.labels?.['isc.sailpoint/service-account'], 'audit01');
  mintedSecret = data.clientSecret ?? '';

  const login = await fetch(`${emulator.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: data.clientId!,
      client_secret: data.clientSecret!,
    }).toString(),
  });
  assert.is(login.status, 200);
  const token = (await login.json()) as { scope: string; identity_id: string };
  assert.is(token.scope, 'idn:accounts:read');
  assert.is(token.identity_id, identityId);
});

test('removed token is revoked', async () => {
  const audit = await getResource('audit01');
  const tokenId = audit.status!.tokens![0]!.id!;
  await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'audit01',
    body: [{ op: 'remove', path: '/spec/tokens' }],
  });
  await waitFor('the token to leave status', async () => {
    const resource = await getResource('audit01');
    return (resource.status?.tokens ?? []).length === 0 ? resource : undefined;
  });
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const secrets = await core.listNamespacedSecret({
    namespace: 'default',
    labelSelector: 'isc.sailpoint/service-account=audit01',
  });
  assert.equal(
    secrets.items.map((item) => item.metadata?.name),
    [],
  );
  const login = await fetch(`${emulator.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: tokenId,
      client_secret: mintedSecret,
    }).toString(),
  });
  assert.is(login.status, 401, 'the revoked token still logs in');
});

test('metrics and health endpoints answer', async () => {
  const line = operator
    .output()
    .split('\n')
    .find((entry) => entry.includes('metrics and health endpoints listening'));
  assert.ok(line, 'the operator did not log its metrics address');
  const { port } = JSON.parse(line!) as { port: number };
  const base = `http://127.0.0.1:${port}`;

  assert.is((await fetch(`${base}/healthz`)).status, 200);
  assert.is((await fetch(`${base}/readyz`)).status, 200);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(
    metrics,
    /isc_requests_total\{method="POST",endpoint="\/v2025\/accounts",status="202"\} \d+/,
  );
  assert.match(metrics, /isc_sa_reconciles_total\{result="ready",reason="Converged"\} \d+/);
  assert.match(metrics, 'isc_sa_workqueue_depth');
  assert.match(metrics, 'isc_client_queue_depth');
  assert.not.match(metrics, operatorClient.clientSecret);
});

test('operator holds the leader lease', async () => {
  const { CoordinationV1Api } = await import('@kubernetes/client-node');
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const lease = await api.readNamespacedLease({ namespace: 'isc-system', name: 'isc-sa-operator' });
  assert.type(lease.spec?.holderIdentity, 'string');
  assert.match(operator.output(), 'became leader');
});

test('operator log has no secret and one resource per line', () => {
  const output = operator.output();
  assert.ok(output.length > 0, 'operator wrote no log');
  assert.not.ok(output.includes(operatorClient.clientSecret), 'client secret in the log');
  assert.ok(mintedSecret.length > 0, 'no minted token to look for');
  assert.not.ok(output.includes(mintedSecret), 'minted token secret in the log');
  const reconcileLines = output
    .split('\n')
    .filter((line) => line.includes('"reconcileId"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(reconcileLines.length > 0, 'no reconcile log lines');
  for (const line of reconcileLines) {
    assert.type(line.namespace, 'string');
    assert.type(line.name, 'string');
  }
});

test('logs, Events and status hold no issued secret', async () => {
  const scan = await scanForIssuedSecrets({
    emulatorUrl: emulator.url,
    kubeConfig,
    operatorLogs: [operator.output()],
  });
  assert.ok(scan.scanned.secrets > 3, `only ${scan.scanned.secrets} issued secrets`);
  assert.ok(scan.scanned.events > 0, 'no Event to scan');
  assert.equal(scan.findings, []);
});

test('contract holds for every emulator response', () => {
  assert.equal(emulator.contractViolations, []);
});

test.run();

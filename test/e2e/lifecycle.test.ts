/**
 * End-to-end tests of the lifecycle after creation: spec updates, drift made by hand in ISC,
 * kstatus, namespace deletion, an API server restart and a leader failover. One kube-apiserver
 * and one ISC emulator serve the whole file. The operator runs as separate processes with a
 * 3-second resync, so drift is repaired without any change to the resources. Tenant state is
 * read back through the ISC REST API with a second credential.
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient } from '../../src/isc/client.ts';
import type {
  Account,
  Identity,
  IdentityProfile,
  SchemaAttribute,
  Source,
  SourceSchema,
} from '../../src/isc/types.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { installCrds } from '../../src/kube/crds.ts';
import {
  accountFinalizer,
  group,
  pausedAnnotation,
  type ServiceAccount,
  serviceAccountPlural,
  version,
} from '../../src/kube/types.ts';
import { computeKstatus } from '../support/kstatus.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import {
  condition,
  createResource as createResourceIn,
  getResource as getResourceIn,
  patchResource as patchResourceIn,
  waitReason as waitReasonIn,
} from '../support/resources.ts';
import { scanForIssuedSecrets } from '../support/secret-scan.ts';
import { waitFor } from '../support/wait.ts';

const operatorClient = {
  clientId: 'lifecycle-operator',
  clientSecret: `op-${crypto.randomUUID()}`,
};
const inspectorClient = {
  clientId: 'lifecycle-inspector',
  clientSecret: `in-${crypto.randomUUID()}`,
};
const leaseNamespace = 'isc-system';
const leaseName = 'isc-sa-operator';
/** Generous for any single convergence, far longer than the 3 s resync. */
const convergeTimeoutMs = 90_000;

let cluster: LocalCluster;
let emulator: RunningEmulator;
let kubeConfig: KubeConfig;
let customObjects: CustomObjectsApi;
let core: CoreV1Api;
let isc: IscApi;
/** The replica expected to hold the lease. The failover test replaces it with the standby. */
let operator: OperatorProcess;
const replicas: OperatorProcess[] = [];

function startReplica(): OperatorProcess {
  const replica = startOperatorProcess({
    KUBECONFIG: cluster.kubeconfigPath,
    ISC_BASE_URL: emulator.url,
    ISC_CREDENTIALS_SECRET: `${leaseNamespace}/isc-credentials`,
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
    OPERATOR_RESYNC_SECONDS: '3',
    OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
    OPERATOR_LEADER_ELECTION: 'true',
    OPERATOR_LEADER_ELECTION_NAMESPACE: leaseNamespace,
    LOG_LEVEL: 'info',
  });
  replicas.push(replica);
  return replica;
}

test.before(async () => {
  cluster = await startLocalCluster();
  emulator = await startEmulator({ clients: [operatorClient, inspectorClient], asyncDelayMs: 200 });
  kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
  core = kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(kubeConfig);

  await core.createNamespace({ body: { metadata: { name: leaseNamespace } } });
  await core.createNamespacedSecret({
    namespace: leaseNamespace,
    body: { metadata: { name: 'isc-credentials' }, stringData: operatorClient },
  });
  isc = new IscApi(
    new IscClient({ baseUrl: emulator.url, ...inspectorClient, logger: pino({ level: 'silent' }) }),
  );
  operator = startReplica();
  try {
    await leaderIdentity(operator);
  } catch (e) {
    console.error('DEBUG', e);
    throw e;
  }
});

test.after(async () => {
  for (const replica of replicas) await replica.stop();
  await emulator?.close();
  await cluster?.stop();
});

// ---- helpers --------------------------------------------------------------------------------

/** Waits for the replica's 'became leader' log line and returns the identity it logged. */
async function leaderIdentity(replica: OperatorProcess): Promise<string> {
  return waitFor(
    'the replica to become leader',
    async () => {
      for (const line of replica.output().split('\n')) {
        if (!line.includes('"became leader"')) continue;
        return (JSON.parse(line) as { identity: string }).identity;
      }
      if (replica.child.exitCode !== null) {
        throw new Error(`replica exited with ${replica.child.exitCode}:\n${replica.output()}`);
      }
      return undefined;
    },
    convergeTimeoutMs,
  );
}

async function readLease() {
  return kubeConfig
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: leaseNamespace, name: leaseName });
}

function getResource(namespace: string, name: string): Promise<ServiceAccount> {
  return getResourceIn(customObjects, namespace, name);
}

async function createResource(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await createResourceIn(customObjects, namespace, name, spec);
}

/** Applies a JSON patch (RFC 6902) to a resource and returns the generation it led to. */
function patchResource(
  namespace: string,
  name: string,
  operations: Array<{ op: string; path: string; value?: unknown }>,
): Promise<number> {
  return patchResourceIn(customObjects, namespace, name, operations);
}

/** Waits until the resource is Ready, and has observed `generation` when one is given. */
async function waitReady(
  namespace: string,
  name: string,
  generation?: number,
): Promise<ServiceAccount> {
  return waitFor(
    `${namespace}/${name} to be Ready${generation === undefined ? '' : ` at ${generation}`}`,
    async () => {
      const resource = await getResource(namespace, name);
      if (condition(resource, 'Ready')?.status !== 'True') return undefined;
      if (generation !== undefined && resource.status?.observedGeneration !== generation) {
        return undefined;
      }
      return resource;
    },
    convergeTimeoutMs,
  );
}

function waitReason(namespace: string, name: string, reason: string) {
  return waitReasonIn(customObjects, namespace, name, reason, convergeTimeoutMs);
}

async function waitGone(read: () => Promise<unknown>, description: string): Promise<void> {
  await waitFor(
    description,
    async () => {
      try {
        await read();
        return undefined;
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return true;
        throw error;
      }
    },
    120_000,
  );
}

async function serviceAccountSource(): Promise<Source> {
  const source = await isc.findSourceByName('Service Accounts');
  assert.ok(source, 'the source "Service Accounts" does not exist');
  return source!;
}

async function findAccount(nativeIdentity: string): Promise<Account | undefined> {
  return isc.findAccount((await serviceAccountSource()).id, nativeIdentity);
}

async function accountSchema(): Promise<SourceSchema> {
  const schema = await isc.getAccountSchema((await serviceAccountSource()).id);
  assert.ok(schema, 'the source has no account schema');
  return schema!;
}

async function serviceAccountProfile(): Promise<IdentityProfile> {
  const profile = await isc.findIdentityProfileByName('Service Accounts');
  assert.ok(profile, 'the identity profile "Service Accounts" does not exist');
  return profile!;
}

/** Identity attribute name to account attribute name, for each accountAttribute mapping. */
function mappingsOf(profile: IdentityProfile): Record<string, unknown> {
  return Object.fromEntries(
    (profile.identityAttributeConfig?.attributeTransforms ?? []).map((transform) => [
      transform.identityAttributeName,
      transform.transformDefinition.attributes.attributeName,
    ]),
  );
}

async function allAccounts(): Promise<Account[]> {
  const source = await serviceAccountSource();
  const accounts: Account[] = [];
  for await (const account of isc.list<Account>('accounts', '', {
    filters: `sourceId eq "${source.id}"`,
    sorters: 'id',
  })) {
    accounts.push(account);
  }
  return accounts;
}

function operatorWritesTo(path: string) {
  return emulator.calls.filter(
    (call) =>
      call.clientId === operatorClient.clientId && call.method !== 'GET' && call.path === path,
  );
}

const teamAttribute: SchemaAttribute = {
  name: 'team',
  type: 'STRING',
  description: 'Team that owns the service account',
  isMulti: false,
  isEntitlement: false,
  isGroup: false,
};

// ---- spec updates -----------------------------------------------------------------------------

test('new resource converges', async () => {
  await createResource('default', 'lifecycle-bot', {
    accountId: 'LC-001',
    email: 'bot@example.com',
    purpose: 'Initial purpose',
  });
  const resource = await waitReady('default', 'lifecycle-bot');
  assert.is(resource.status?.observedGeneration, resource.metadata.generation);
  assert.is((await findAccount('LC-001'))?.attributes?.purpose, 'Initial purpose');
});

test('email update reaches account and identity', async () => {
  const generation = await patchResource('default', 'lifecycle-bot', [
    { op: 'replace', path: '/spec/email', value: 'bot-renamed@example.com' },
  ]);
  const resource = await waitReady('default', 'lifecycle-bot', generation);
  assert.is(resource.status?.observedGeneration, resource.metadata.generation);

  const account = await findAccount('LC-001');
  assert.is(account?.attributes?.['e-mail'], 'bot-renamed@example.com');
  const identity = (await isc.getIdentity(resource.status!.identityId!)) as Identity;
  assert.ok(identity, 'the identity of lifecycle-bot is gone');
  assert.is(identity.attributes?.email, 'bot-renamed@example.com');
});

test('purpose update reaches account', async () => {
  const generation = await patchResource('default', 'lifecycle-bot', [
    { op: 'replace', path: '/spec/purpose', value: 'Rotate release signing keys' },
  ]);
  const resource = await waitReady('default', 'lifecycle-bot', generation);
  assert.is(resource.status?.observedGeneration, generation);
  const account = await findAccount('LC-001');
  assert.is(account?.attributes?.purpose, 'Rotate release signing keys');
});

test('attributes update reaches account', async () => {
  const schema = await accountSchema();
  await isc.replaceSchema((await serviceAccountSource()).id, {
    ...schema,
    attributes: [...schema.attributes, teamAttribute],
  });

  let generation = await patchResource('default', 'lifecycle-bot', [
    { op: 'add', path: '/spec/attributes', value: { team: 'platform' } },
  ]);
  let resource = await waitReady('default', 'lifecycle-bot', generation);
  assert.is(resource.status?.observedGeneration, generation);
  assert.is((await findAccount('LC-001'))?.attributes?.team, 'platform');

  generation = await patchResource('default', 'lifecycle-bot', [
    { op: 'replace', path: '/spec/attributes/team', value: 'security' },
  ]);
  resource = await waitReady('default', 'lifecycle-bot', generation);
  assert.is(resource.status?.observedGeneration, generation);
  assert.is((await findAccount('LC-001'))?.attributes?.team, 'security');
});

test('removed attribute leaves account', async () => {
  await createResource('default', 'attribute-removal', {
    accountId: 'LC-002',
    email: 'removal@example.com',
    attributes: { team: 'platform' },
  });
  await waitReady('default', 'attribute-removal');
  const generation = await patchResource('default', 'attribute-removal', [
    { op: 'remove', path: '/spec/attributes' },
  ]);
  await waitReady('default', 'attribute-removal', generation);
  const account = await waitFor(
    'the team attribute to leave account LC-002',
    async () => {
      const current = await findAccount('LC-002');
      return current?.attributes?.team === undefined ? current : undefined;
    },
    convergeTimeoutMs,
  );
  assert.is(account.attributes?.team, undefined);
});

// ---- drift made by hand in ISC ----------------------------------------------------------------

test('account drift is restored', async () => {
  const account = await findAccount('LC-001');
  assert.ok(account, 'account LC-001 not found');
  const desired = { ...(account!.attributes as Record<string, string>) };
  emulator.clearCalls();

  await isc.updateAccount(account!.id, { ...desired, purpose: 'Changed by hand' });
  // The operator writes only when it reads attributes that differ from the spec, so its PUT
  // shows that it saw the change, however soon it repaired it.
  await waitFor(
    'the operator to write the account',
    async () => (operatorWritesTo(`/v2025/accounts/${account!.id}`).length > 0 ? true : undefined),
    convergeTimeoutMs,
  );
  const restored = await waitFor(
    'the operator to restore the purpose',
    async () => {
      const current = await findAccount('LC-001');
      return current?.attributes?.purpose === desired.purpose ? current : undefined;
    },
    convergeTimeoutMs,
  );
  assert.equal(restored.attributes, desired);
});

test('schema drift is restored', async () => {
  const source = await serviceAccountSource();
  const schema = await accountSchema();
  const withoutPurpose = schema.attributes.filter((attribute) => attribute.name !== 'purpose');
  const drifted = await isc.replaceSchema(source.id, { ...schema, attributes: withoutPurpose });
  assert.not.ok(drifted.attributes.some((attribute) => attribute.name === 'purpose'));

  const restored = await waitFor(
    'the operator to restore the purpose attribute',
    async () => {
      const current = await accountSchema();
      return current.attributes.some((attribute) => attribute.name === 'purpose')
        ? current
        : undefined;
    },
    convergeTimeoutMs,
  );
  assert.equal(
    restored.attributes.map((attribute) => attribute.name),
    ['id', 'name', 'e-mail', 'purpose', 'team'],
  );
});

test('profile mapping drift is restored', async () => {
  const profile = await serviceAccountProfile();
  const transforms = profile.identityAttributeConfig?.attributeTransforms ?? [];
  const drifted = transforms
    .filter((transform) => transform.identityAttributeName !== 'lastname')
    .map((transform) =>
      transform.identityAttributeName === 'email'
        ? {
            ...transform,
            transformDefinition: {
              ...transform.transformDefinition,
              attributes: { ...transform.transformDefinition.attributes, attributeName: 'name' },
            },
          }
        : transform,
    );
  const patched = await isc.patchIdentityProfile(profile.id, [
    {
      op: 'replace',
      path: '/identityAttributeConfig',
      value: { enabled: true, attributeTransforms: drifted },
    },
  ]);
  assert.equal(mappingsOf(patched), {
    uid: 'name',
    email: 'name',
    firstname: 'name',
  });

  const restored = await waitFor(
    'the operator to restore the mappings',
    async () => {
      const current = await serviceAccountProfile();
      return Object.keys(mappingsOf(current)).length === 4 && mappingsOf(current).email === 'e-mail'
        ? current
        : undefined;
    },
    convergeTimeoutMs,
  );
  assert.equal(mappingsOf(restored), {
    uid: 'name',
    email: 'e-mail',
    lastname: 'name',
    firstname: 'name',
  });
  const resource = await waitReady('default', 'lifecycle-bot');
  const identity = (await isc.getIdentity(resource.status!.identityId!)) as Identity;
  assert.is(identity.attributes?.email, 'bot-renamed@example.com');
});

// ---- kstatus ----------------------------------------------------------------------------------

test('converged resource is Current', async () => {
  const resource = await waitReady('default', 'lifecycle-bot');
  assert.is(computeKstatus(resource).status, 'Current');
});

test('stalled resource is Failed', async () => {
  await isc.createAccount((await serviceAccountSource()).id, {
    id: 'LC-401',
    name: 'kstatus-foreign',
    'e-mail': 'foreign@example.com',
    purpose: 'Created by a person',
  });
  await waitFor('the hand-made account LC-401', () => findAccount('LC-401'), convergeTimeoutMs);
  await createResource('default', 'kstatus-foreign', {
    accountId: 'LC-401',
    email: 'foreign@example.com',
  });
  const resource = await waitReason('default', 'kstatus-foreign', 'AccountNotOwned');
  const result = computeKstatus(resource);
  assert.is(result.status, 'Failed');
  assert.match(result.message, 'spec.adopt');
});

test('waiting resource is InProgress', async () => {
  await createResource('default', 'kstatus-missing', {
    accountId: 'LC-402',
    email: 'missing@example.com',
    managementPolicy: 'ObserveOnly',
  });
  const resource = await waitReason('default', 'kstatus-missing', 'AccountNotFound');
  assert.is(condition(resource, 'Reconciling')?.status, 'True');
  assert.is(computeKstatus(resource).status, 'InProgress');
});

test('unobserved generation is InProgress', async () => {
  await createResource('default', 'kstatus-paused', {
    accountId: 'LC-403',
    email: 'paused@example.com',
  });
  await waitReady('default', 'kstatus-paused');
  await patchResource('default', 'kstatus-paused', [
    { op: 'add', path: '/metadata/annotations', value: { [pausedAnnotation]: 'true' } },
  ]);
  await waitFor(
    'kstatus-paused to report Paused',
    async () => {
      const resource = await getResource('default', 'kstatus-paused');
      return condition(resource, 'Synced')?.reason === 'Paused' ? resource : undefined;
    },
    convergeTimeoutMs,
  );

  const generation = await patchResource('default', 'kstatus-paused', [
    { op: 'add', path: '/spec/purpose', value: 'Changed while paused' },
  ]);
  const resource = await getResource('default', 'kstatus-paused');
  assert.is(resource.metadata.generation, generation);
  assert.is(resource.status?.observedGeneration, generation - 1);
  const result = computeKstatus(resource);
  assert.is(result.status, 'InProgress');
  assert.match(result.message, 'observed generation');
});

test('deleting resource is Terminating', async () => {
  await customObjects.deleteNamespacedCustomObject({
    group,
    version,
    namespace: 'default',
    plural: serviceAccountPlural,
    name: 'kstatus-paused',
  });
  const resource = await getResource('default', 'kstatus-paused');
  assert.ok(resource.metadata.finalizers?.includes(accountFinalizer), 'no finalizer holds it');
  assert.is(computeKstatus(resource).status, 'Terminating');

  await patchResource('default', 'kstatus-paused', [
    { op: 'remove', path: '/metadata/annotations/isc.sailpoint~1paused' },
  ]);
  await waitGone(() => getResource('default', 'kstatus-paused'), 'kstatus-paused to be gone');
  assert.is(await findAccount('LC-403'), undefined, 'the account outlived its resource');
});

// ---- namespace deletion -----------------------------------------------------------------------

test('namespace deletion cleans up accounts', async () => {
  const namespace = 'lifecycle-namespace';
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const resources = [
    { name: 'ns-deleted-1', accountId: 'LC-101', deletionPolicy: 'Delete' },
    { name: 'ns-deleted-2', accountId: 'LC-102', deletionPolicy: 'Delete' },
    { name: 'ns-orphaned', accountId: 'LC-103', deletionPolicy: 'Orphan' },
  ];
  for (const { name, accountId, deletionPolicy } of resources) {
    await createResource(namespace, name, {
      accountId,
      email: `${name}@example.com`,
      deletionPolicy,
    });
  }
  for (const { name } of resources) await waitReady(namespace, name);
  for (const { accountId } of resources) {
    assert.ok(await findAccount(accountId), `account ${accountId} was not created`);
  }

  await core.deleteNamespace({ name: namespace });
  await waitGone(() => core.readNamespace({ name: namespace }), `namespace ${namespace} to go`);

  assert.is(await findAccount('LC-101'), undefined, 'account LC-101 outlived its namespace');
  assert.is(await findAccount('LC-102'), undefined, 'account LC-102 outlived its namespace');
  assert.ok(await findAccount('LC-103'), 'the Orphan account LC-103 was deleted');
});

// ---- API server restart -----------------------------------------------------------------------

test('operator recovers after API server restart', async () => {
  const pid = operator.child.pid;
  await cluster.restartApiServer();

  const before = await getResource('default', 'lifecycle-bot');
  assert.is(before.spec.purpose, 'Rotate release signing keys', 'etcd data did not survive');
  await createResource('default', 'after-restart', {
    accountId: 'LC-301',
    email: 'after-restart@example.com',
  });
  const generation = await patchResource('default', 'lifecycle-bot', [
    { op: 'replace', path: '/spec/purpose', value: 'Updated after the restart' },
  ]);

  await waitReady('default', 'after-restart');
  await waitReady('default', 'lifecycle-bot', generation);
  assert.ok(await findAccount('LC-301'), 'account LC-301 was not created');
  assert.is((await findAccount('LC-001'))?.attributes?.purpose, 'Updated after the restart');
  assert.is(operator.child.exitCode, null, `the operator exited:\n${operator.output()}`);
  assert.is(operator.child.pid, pid);
});

// ---- leader election --------------------------------------------------------------------------

let standby: OperatorProcess;

test('one replica leads at a time', async () => {
  const leader = await leaderIdentity(operator);
  standby = startReplica();
  await waitFor(
    'the standby to wait for leadership',
    async () => (standby.output().includes('"waiting for leadership"') ? true : undefined),
    convergeTimeoutMs,
  );
  // Long enough for the standby to try the lease at least twice (it retries every 2 s).
  await new Promise((resolve) => setTimeout(resolve, 5_000));

  const lease = await readLease();
  assert.is(lease.spec?.holderIdentity, leader);
  assert.not.match(standby.output(), '"became leader"');
  assert.is(standby.child.exitCode, null, `the standby exited:\n${standby.output()}`);
});

test('standby takes over after leader is killed', async () => {
  const transitions = (await readLease()).spec?.leaseTransitions ?? 0;
  const exited = new Promise((resolve) => operator.child.once('exit', resolve));
  operator.child.kill('SIGKILL');
  await exited;

  await createResource('default', 'after-failover', {
    accountId: 'LC-201',
    email: 'after-failover@example.com',
  });
  const identity = await leaderIdentity(standby);
  operator = standby;
  await waitReady('default', 'after-failover');

  const lease = await readLease();
  assert.is(lease.spec?.holderIdentity, identity);
  assert.is(lease.spec?.leaseTransitions, transitions + 1);
  assert.ok(await findAccount('LC-201'), 'account LC-201 was not created');
});

test('failover creates no duplicate accounts', async () => {
  const accounts = await allAccounts();
  const nativeIdentities = accounts.map((account) => account.nativeIdentity);
  const duplicates = nativeIdentities.filter(
    (nativeIdentity, index) => nativeIdentities.indexOf(nativeIdentity) !== index,
  );
  assert.equal(duplicates, []);
  assert.is(nativeIdentities.filter((nativeIdentity) => nativeIdentity === 'LC-201').length, 1);
});

test('logs, Events and status hold no issued secret', async () => {
  const scan = await scanForIssuedSecrets({
    emulatorUrl: emulator.url,
    kubeConfig,
    operatorLogs: replicas.map((replica) => replica.output()),
  });
  assert.ok(scan.scanned.secrets > 2, `only ${scan.scanned.secrets} issued secrets`);
  assert.ok(scan.scanned.events > 0, 'no Event to scan');
  assert.equal(scan.findings, []);
});

test('contract holds for every emulator response', () => {
  assert.equal(emulator.contractViolations, []);
});

test.run();

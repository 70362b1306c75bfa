/**
 * End to end: personal access tokens over time. A real kube-apiserver, the ISC emulator over
 * HTTP and the operator as its own process, which reads time from the emulator's tenant clock
 * (test-only preload, see test/support/follow-emulator-clock.ts). Moving that clock forward
 * drives token and bootstrap rotation, grace periods and ISC's delay before a PAT's new scopes
 * reach new access tokens. The operator resyncs every 3 s, so it notices each move.
 */
import { fileURLToPath } from 'node:url';
import type { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import {
  group,
  reconcileNowAnnotation,
  type ServiceAccount,
  serviceAccountPlural,
  version,
} from '../../src/kube/types.ts';
import { type E2eCluster, startE2eCluster } from '../support/e2e-cluster.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { scanForIssuedSecrets } from '../support/secret-scan.ts';
import { waitFor } from '../support/wait.ts';

const operatorClient = { clientId: 'tokens-operator', clientSecret: `op-${crypto.randomUUID()}` };
const namespace = 'default';
const name = 'rotator';
const hour = 3_600_000;
/** Tenant time after a scope change until new access tokens carry the new scopes. */
const scopeDelayMs = 40 * 60_000;
/** PATs live 3 days and rotate 30 hours before expiry, so 48 hours after minting. */
const rotation = { rotateBeforeExpiryHours: 30, rotationGracePeriodMinutes: 60 };
const clockPreload = fileURLToPath(new URL('../support/follow-emulator-clock.ts', import.meta.url));

let e2e: E2eCluster;
let emulator: RunningEmulator;
let kubeConfig: KubeConfig;
let customObjects: CustomObjectsApi;
let core: CoreV1Api;
let operator: OperatorProcess;
let identityId = '';
let handMadeBootstrap = { id: '', secret: '' };

test.before(async () => {
  e2e = await startE2eCluster({ 'isc-credentials': operatorClient });
  ({ kubeConfig, customObjects, core } = e2e);
  emulator = await startEmulator({
    clients: [operatorClient],
    asyncDelayMs: 200,
    patScopeDelayMs: scopeDelayMs,
  });
  operator = startOperatorProcess(
    {
      KUBECONFIG: e2e.cluster.kubeconfigPath,
      ISC_BASE_URL: emulator.url,
      ISC_CREDENTIALS_SECRET: 'isc-system/isc-credentials',
      ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
      OPERATOR_RESYNC_SECONDS: '3',
      OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
      OPERATOR_LEADER_ELECTION: 'false',
      LOG_LEVEL: 'debug',
      TEST_EMULATOR_CLOCK_URL: `${emulator.url}/__admin/clock`,
    },
    ['--import', clockPreload],
  );
});

test.after(async () => {
  await operator?.stop();
  await emulator?.close();
  await e2e?.cluster.stop();
});

// ---- helpers --------------------------------------------------------------------------------

async function getResource(): Promise<ServiceAccount> {
  return customObjects.getNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    name,
  });
}

async function patchResource(operations: Array<{ op: string; path: string; value?: unknown }>) {
  const patched: ServiceAccount = await customObjects.patchNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    name,
    body: operations,
  });
  return patched.metadata.generation!;
}

function readyCondition(resource: ServiceAccount) {
  return resource.status?.conditions?.find((condition) => condition.type === 'Ready');
}

async function waitResource(
  description: string,
  check: (resource: ServiceAccount) => boolean,
): Promise<ServiceAccount> {
  let last: ServiceAccount | undefined;
  return waitFor(
    description,
    async () => {
      last = await getResource();
      return check(last) ? last : undefined;
    },
    90_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last status: ${JSON.stringify(last?.status)}`);
  });
}

async function advanceClock(milliseconds: number): Promise<void> {
  const response = await fetch(`${emulator.url}/__admin/clock`, {
    method: 'POST',
    body: JSON.stringify({ advanceMs: milliseconds }),
  });
  assert.is(response.status, 200);
}

async function readCredential(secretName: string): Promise<{ id: string; secret: string }> {
  const secret = await core.readNamespacedSecret({ namespace, name: secretName });
  const decode = (key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString();
  return { id: decode('clientId'), secret: decode('clientSecret') };
}

/** Requests an access token as a workload would; returns the HTTP status and the token. */
async function login(credential: { id: string; secret: string }) {
  const response = await fetch(`${emulator.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: credential.id,
      client_secret: credential.secret,
    }).toString(),
  });
  const body = (await response.json()) as { access_token?: string; scope?: string };
  return { status: response.status, accessToken: body.access_token ?? '', scope: body.scope ?? '' };
}

/** Names of the PATs the service account's identity owns, from the emulator's state. */
async function ownedPatNames(): Promise<string[]> {
  const state = (await (await fetch(`${emulator.url}/__admin/state`)).json()) as {
    personalAccessTokens: Array<{ id: string; name: string; ownerId: string }>;
  };
  return state.personalAccessTokens
    .filter((pat) => pat.ownerId === identityId)
    .map((pat) => pat.name)
    .sort();
}

/**
 * Logs in with the credential of each Secret over and over until stopped. A failed login
 * counts only if the Secret still contains the same credential afterwards: a Secret replaced
 * between the read and the login is no gap.
 */
function watchCredentials(secretNames: string[]) {
  const failures: string[] = [];
  let logins = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const secretName of secretNames) {
        const credential = await readCredential(secretName);
        const { status } = await login(credential);
        logins++;
        if (status === 200) continue;
        const after = await readCredential(secretName);
        if (after.id === credential.id) {
          failures.push(
            `${secretName}: ${credential.id} got ${status} at ${new Date().toISOString()}`,
          );
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    failures,
    logins: () => logins,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// ---- minting and the first bootstrap rotation ------------------------------------------------

test('resource converges', async () => {
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name },
      spec: { accountId: 'TK-001', email: 'rotator@example.com', invite: false },
    },
  });
  const resource = await waitResource(`${name} to be Ready`, (current) => {
    return readyCondition(current)?.status === 'True';
  });
  identityId = resource.status!.identityId!;
  assert.ok(identityId, 'no identity id in status');
});

test('token is minted and bootstrap replaced', async () => {
  // A person logs in as the service account once and stores a PAT that never expires.
  const response = await fetch(
    `${emulator.url}/__admin/identities/${identityId}/personal-access-tokens?name=made-by-hand`,
    { method: 'POST' },
  );
  handMadeBootstrap = (await response.json()) as { id: string; secret: string };
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'rotator-bootstrap' },
      stringData: { clientId: handMadeBootstrap.id, clientSecret: handMadeBootstrap.secret },
    },
  });
  const generation = await patchResource([
    {
      op: 'add',
      path: '/spec/bootstrapCredentialsSecretRef',
      value: { name: 'rotator-bootstrap', rotation: { validForDays: 3, ...rotation } },
    },
    {
      op: 'add',
      path: '/spec/tokens',
      value: [
        {
          name: 'reporting',
          scopes: ['idn:accounts:read'],
          secretName: 'rotator-reporting',
          validForDays: 3,
          ...rotation,
        },
      ],
    },
  ]);
  const resource = await waitResource('the token and the new bootstrap PAT', (current) => {
    return (
      current.status?.observedGeneration === generation &&
      readyCondition(current)?.status === 'True' &&
      current.status?.tokens?.[0]?.id !== undefined
    );
  });

  const bootstrap = resource.status!.bootstrapCredentials!;
  assert.is(bootstrap.previousId, handMadeBootstrap.id, 'the hand-made PAT is not retiring');
  assert.is(bootstrap.iscName, 'bootstrap-r1');
  const stored = await readCredential('rotator-bootstrap');
  assert.is(stored.id, bootstrap.id);
  assert.is.not(stored.id, handMadeBootstrap.id);
  assert.is((await login(stored)).status, 200, 'the new bootstrap credential does not work');
  assert.is((await login(handMadeBootstrap)).status, 200, 'revoked within the grace period');

  const token = await readCredential('rotator-reporting');
  assert.is(token.id, resource.status!.tokens![0]!.id);
  const granted = await login(token);
  assert.is(granted.status, 200);
  assert.is(granted.scope, 'idn:accounts:read');
  const secret = await core.readNamespacedSecret({ namespace, name: 'rotator-reporting' });
  assert.is(secret.metadata?.labels?.['isc.sailpoint/service-account'], name);
  assert.is(secret.metadata?.ownerReferences?.[0]?.uid, resource.metadata.uid);
});

test('hand-made bootstrap PAT goes after grace', async () => {
  await advanceClock(2 * hour);
  await waitResource('the hand-made PAT to retire', (current) => {
    return current.status?.bootstrapCredentials?.previousId === undefined;
  });
  assert.is((await login(handMadeBootstrap)).status, 401, 'the hand-made PAT still works');
  assert.equal(await ownedPatNames(), ['bootstrap-r1', 'reporting']);
});

// ---- rotation under time travel ---------------------------------------------------------------

test('rotation keeps a valid credential throughout', async () => {
  const watcher = watchCredentials(['rotator-reporting', 'rotator-bootstrap']);
  try {
    for (let round = 1; round <= 3; round++) {
      const before = await getResource();
      const oldToken = await readCredential('rotator-reporting');
      const oldBootstrap = await readCredential('rotator-bootstrap');

      // 48 hours: both PATs are 30 hours from expiry, so both rotate.
      await advanceClock(48 * hour);
      const rotated = await waitResource(`rotation ${round}`, (current) => {
        return (
          current.status?.tokens?.[0]?.rotations === round &&
          current.status?.bootstrapCredentials?.rotations === round + 1 &&
          current.status?.bootstrapCredentials?.rotation === undefined
        );
      });
      const token = rotated.status!.tokens![0]!;
      const bootstrap = rotated.status!.bootstrapCredentials!;
      assert.is(token.previousId, oldToken.id, `round ${round}: retiring token`);
      assert.is(bootstrap.previousId, oldBootstrap.id, `round ${round}: retiring bootstrap`);
      assert.is((await readCredential('rotator-reporting')).id, token.id);
      assert.is((await readCredential('rotator-bootstrap')).id, bootstrap.id);
      // Within the grace period the replaced PATs still work.
      assert.is((await login(oldToken)).status, 200, `round ${round}: old token revoked early`);
      assert.is((await login(oldBootstrap)).status, 200, `round ${round}: old bootstrap revoked`);
      assert.is.not(token.expiresAt, before.status?.tokens?.[0]?.expiresAt);

      await advanceClock(2 * hour);
      await waitResource(`the PATs replaced in round ${round} to retire`, (current) => {
        return (
          current.status?.tokens?.[0]?.previousId === undefined &&
          current.status?.bootstrapCredentials?.previousId === undefined
        );
      });
      assert.is((await login(oldToken)).status, 401, `round ${round}: old token still works`);
      assert.is((await login(oldBootstrap)).status, 401, `round ${round}: old bootstrap works`);
      assert.equal(await ownedPatNames(), [`bootstrap-r${round + 1}`, `reporting-r${round}`]);
    }
  } finally {
    await watcher.stop();
  }
  assert.ok(watcher.logins() > 20, `only ${watcher.logins()} logins were tried`);
  assert.equal(watcher.failures, []);
  assert.is(operator.child.exitCode, null, `the operator exited:\n${operator.output()}`);
});

// ---- scope changes ----------------------------------------------------------------------------

test('scope change patches the PAT in place', async () => {
  const before = await readCredential('rotator-reporting');
  const bootstrapId = (await readCredential('rotator-bootstrap')).id;
  emulator.clearCalls();
  const generation = await patchResource([
    {
      op: 'replace',
      path: '/spec/tokens/0/scopes',
      value: ['idn:accounts:read', 'idn:sources:read'],
    },
  ]);
  const waiting = await waitResource('the scope change to wait for ISC', (current) => {
    return (
      current.status?.observedGeneration === generation &&
      readyCondition(current)?.reason === 'WaitingForTokenScopes'
    );
  });
  assert.is(readyCondition(waiting)?.status, 'False');
  const writes = emulator.calls.filter(
    (call) =>
      call.clientId === bootstrapId &&
      call.method !== 'GET' &&
      call.path.startsWith('/v2025/personal-access-tokens'),
  );
  assert.equal(
    writes.map((call) => `${call.method} ${call.path} ${call.status}`),
    [`PATCH /v2025/personal-access-tokens/${before.id} 200`],
  );
  assert.equal(await readCredential('rotator-reporting'), before, 'the Secret changed');

  // Until ISC applies the change, new access tokens carry the old scopes.
  const early = await login(before);
  assert.is(early.scope, 'idn:accounts:read');
  const forbidden = await fetch(`${emulator.url}/v2025/sources`, {
    headers: { authorization: `Bearer ${early.accessToken}` },
  });
  assert.is(forbidden.status, 403);

  await advanceClock(scopeDelayMs + 60_000);
  const ready = await waitResource('the new scopes to apply', (current) => {
    return readyCondition(current)?.reason === 'Converged';
  });
  assert.equal(ready.status?.tokens?.[0]?.scopes, ['idn:accounts:read', 'idn:sources:read']);
  assert.is(ready.status?.tokens?.[0]?.scopesChangedAt, undefined);
  const late = await login(before);
  assert.is(late.scope, 'idn:accounts:read idn:sources:read');
  const allowed = await fetch(`${emulator.url}/v2025/sources`, {
    headers: { authorization: `Bearer ${late.accessToken}` },
  });
  assert.is(allowed.status, 200);
});

test('slow scope change is reported', async () => {
  await patchResource([
    {
      op: 'replace',
      path: '/spec/tokens/0/scopes',
      value: ['idn:accounts:read', 'idn:identity:read', 'idn:sources:read'],
    },
  ]);
  await waitResource('the scope change to wait for ISC', (current) => {
    return readyCondition(current)?.reason === 'WaitingForTokenScopes';
  });
  // Past the operator's 30 minutes, ISC's delay (40 minutes here) still lasts.
  await advanceClock(31 * 60_000);
  const stalled = await waitResource('the delay to be reported', (current) => {
    return readyCondition(current)?.reason === 'TokenScopesNotApplied';
  });
  const stalledCondition = stalled.status?.conditions?.find((entry) => entry.type === 'Stalled');
  assert.is(stalledCondition?.status, 'True');
  assert.match(readyCondition(stalled)!.message, '"reporting"');

  await advanceClock(10 * 60_000);
  await patchResource([
    { op: 'add', path: `/metadata/annotations`, value: { [reconcileNowAnnotation]: 'scopes' } },
  ]);
  const ready = await waitResource('the scopes to apply at last', (current) => {
    return readyCondition(current)?.reason === 'Converged';
  });
  assert.is(ready.status?.tokens?.[0]?.scopesChangedAt, undefined);
});

// ---- Secrets the operator did not write ------------------------------------------------------

test('foreign Secret is never written', async () => {
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'unrelated' }, stringData: { foo: 'bar' } },
  });
  const bootstrapBefore = await core.readNamespacedSecret({ namespace, name: 'rotator-bootstrap' });
  const generation = await patchResource([
    { op: 'add', path: '/spec/tokens/-', value: { name: 'intruder', secretName: 'unrelated' } },
  ]);
  const stalled = await waitResource('the resource to report the conflict', (current) => {
    const ready = readyCondition(current);
    return ready?.observedGeneration === generation && ready.reason === 'SecretConflict';
  });
  assert.match(readyCondition(stalled)!.message, 'Secret default/unrelated exists');
  const stalledCondition = stalled.status?.conditions?.find((item) => item.type === 'Stalled');
  assert.is(stalledCondition?.status, 'True');
  assert.not.ok(
    stalled.status?.tokens?.some((entry) => entry.name === 'intruder'),
    'status records a PAT for the conflicting token',
  );
  assert.not.ok((await ownedPatNames()).includes('intruder'), 'a PAT was minted for it');
  await assertUntouched();
  const bootstrapAfter = await core.readNamespacedSecret({ namespace, name: 'rotator-bootstrap' });
  assert.is(bootstrapAfter.metadata?.resourceVersion, bootstrapBefore.metadata?.resourceVersion);

  const removed = await patchResource([{ op: 'remove', path: '/spec/tokens/1' }]);
  await waitResource('the resource to converge without the token', (current) => {
    const ready = readyCondition(current);
    return ready?.observedGeneration === removed && ready.status === 'True';
  });
  await assertUntouched();
});

async function assertUntouched(): Promise<void> {
  const unrelated = await core.readNamespacedSecret({ namespace, name: 'unrelated' });
  assert.equal(Object.keys(unrelated.data ?? {}), ['foo']);
  assert.is(Buffer.from(unrelated.data!.foo!, 'base64').toString(), 'bar');
  assert.is(unrelated.metadata?.ownerReferences, undefined, 'the Secret got an ownerReference');
  assert.is(unrelated.metadata?.labels, undefined, 'the Secret got labels');
}

// ---- lost responses ---------------------------------------------------------------------------

test('lost PAT creates leave no orphan', async () => {
  const before = await getResource();
  const tokenRotations = before.status!.tokens![0]!.rotations!;
  const bootstrapRotations = before.status!.bootstrapCredentials!.rotations!;
  const watcher = watchCredentials(['rotator-reporting', 'rotator-bootstrap']);
  try {
    // ISC creates the PAT, but the response with its secret never arrives.
    emulator.clearCalls();
    emulator.setFaults({ drops: [{ operation: 'createPersonalAccessToken', phase: 'after' }] });
    await advanceClock(48 * hour);
    await waitFor(
      'two PAT creates to lose their response',
      async () => {
        const lost = emulator.calls.filter(
          (call) => call.operationId === 'createPersonalAccessToken' && call.fault === 'drop-after',
        );
        return lost.length >= 2 ? lost : undefined;
      },
      90_000,
    );
    emulator.clearFaults();

    await waitResource('both rotations to finish', (current) => {
      return (
        current.status?.tokens?.[0]?.rotations === tokenRotations + 1 &&
        current.status?.bootstrapCredentials?.rotations === bootstrapRotations + 1 &&
        current.status?.bootstrapCredentials?.rotation === undefined &&
        current.status?.tokens?.[0]?.requestedAt === undefined
      );
    });
    await advanceClock(2 * hour);
    await waitResource('the replaced PATs to retire', (current) => {
      return (
        current.status?.tokens?.[0]?.previousId === undefined &&
        current.status?.bootstrapCredentials?.previousId === undefined
      );
    });
  } finally {
    emulator.clearFaults();
    await watcher.stop();
  }
  assert.equal(await ownedPatNames(), [
    `bootstrap-r${bootstrapRotations + 1}`,
    `reporting-r${tokenRotations + 1}`,
  ]);
  assert.is((await login(await readCredential('rotator-reporting'))).status, 200);
  assert.is((await login(await readCredential('rotator-bootstrap'))).status, 200);
  assert.equal(watcher.failures, []);
});

// ---- secrets stay secret ----------------------------------------------------------------------

test('rejected bootstrap credential names its Secret', async () => {
  const wrongSecret = `wrong-${crypto.randomUUID()}`;
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'refused-bootstrap' },
      stringData: { clientId: 'no-such-pat', clientSecret: wrongSecret },
    },
  });
  await customObjects.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: serviceAccountPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name: 'refused' },
      spec: {
        accountId: 'TK-002',
        email: 'refused@example.com',
        invite: false,
        bootstrapCredentialsSecretRef: { name: 'refused-bootstrap' },
        tokens: [{ name: 'reporting', scopes: ['idn:accounts:read'], secretName: 'refused-pat' }],
      },
    },
  });
  const ready = await waitFor('refused to report Unauthorized', async () => {
    const resource: ServiceAccount = await customObjects.getNamespacedCustomObject({
      group,
      version,
      namespace,
      plural: serviceAccountPlural,
      name: 'refused',
    });
    const condition = readyCondition(resource);
    return condition?.reason === 'Unauthorized' ? condition : undefined;
  });
  assert.match(ready.message, 'HTTP 401');
  assert.match(ready.message, `in Secret ${namespace}/refused-bootstrap`);
  assert.not.match(ready.message, wrongSecret);
});

test('logs, Events and status hold no secret', async () => {
  const scan = await scanForIssuedSecrets({
    emulatorUrl: emulator.url,
    kubeConfig,
    operatorLogs: [operator.output()],
  });
  assert.ok(scan.scanned.secrets > 10, `only ${scan.scanned.secrets} issued secrets`);
  assert.ok(scan.scanned.events > 0, 'no Event to scan');
  assert.ok(scan.scanned.logBytes > 0, 'no operator log to scan');
  assert.equal(scan.findings, []);
});

test('scan finds a planted secret', async () => {
  const accessToken = (await login(await readCredential('rotator-reporting'))).accessToken;
  const planted = `{"msg":"oops","secret":"${handMadeBootstrap.secret}","token":"${accessToken}"}`;
  const scan = await scanForIssuedSecrets({
    emulatorUrl: emulator.url,
    kubeConfig,
    operatorLogs: [planted],
  });
  assert.equal(scan.findings, [
    `operator log 1: client secret ${handMadeBootstrap.secret.slice(0, 6)}...`,
    `operator log 1: access token ${accessToken.slice(0, 6)}...`,
  ]);
});

// ---- deletion ---------------------------------------------------------------------------------

test('deletion revokes the minted PATs', async () => {
  const before = await getResource();
  const token = await readCredential('rotator-reporting');
  assert.is((await login(token)).status, 200);
  const bootstrapName = before.status!.bootstrapCredentials!.iscName!;

  // The first revocation is carried out, but its response is lost: the rerun finds it gone.
  emulator.clearCalls();
  emulator.setFaults({ drops: [{ operation: 'deletePersonalAccessToken', phase: 'after' }] });
  try {
    await customObjects.deleteNamespacedCustomObject({
      group,
      version,
      namespace,
      plural: serviceAccountPlural,
      name,
    });
    await waitFor(
      'a PAT delete to lose its response',
      async () =>
        emulator.calls.find(
          (call) => call.operationId === 'deletePersonalAccessToken' && call.fault === 'drop-after',
        ),
      90_000,
    );
  } finally {
    emulator.clearFaults();
  }
  await waitFor(
    'the resource to be gone',
    async () => ((await getResource().catch(() => undefined)) ? undefined : true),
    90_000,
  );

  assert.equal(await ownedPatNames(), [bootstrapName], 'a minted PAT is still listed');
  assert.is((await login(token)).status, 401, 'the token credential still works');
  assert.is((await login(await readCredential('rotator-bootstrap'))).status, 200);
});

test('contract holds for every emulator response', () => {
  assert.equal(emulator.contractViolations, []);
});

test.run();

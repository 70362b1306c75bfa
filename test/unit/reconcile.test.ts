/**
 * Reconcile decisions with stubbed ISC and Kubernetes clients: which calls are made and what the
 * status markers become. The end-to-end suite covers the same paths against real servers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ReconcileDeps, reconcileServiceAccount } from '../../src/controller/reconcile.ts';
import { IscApiError, IscNetworkError } from '../../src/isc/errors.ts';
import type { Account } from '../../src/isc/types.ts';
import type { ServiceAccount, ServiceAccountStatus } from '../../src/kube/types.ts';

interface Recorder {
  calls: string[];
  statusPatches: ServiceAccountStatus[];
}

function resource(overrides: Partial<ServiceAccount> = {}): ServiceAccount {
  return {
    apiVersion: 'isc.sailpoint/v1alpha1',
    kind: 'ServiceAccount',
    metadata: {
      name: 'audit01',
      namespace: 'default',
      uid: '11111111-2222-3333-4444-555555555555',
      resourceVersion: '1',
      generation: 1,
      creationTimestamp: new Date('2026-01-01T00:00:00Z'),
      finalizers: ['isc.sailpoint/account-cleanup'],
    },
    spec: { accountId: 'SA-001', email: 'admin@example.com', purpose: 'Audit' },
    ...overrides,
  };
}

function deps(
  recorder: Recorder,
  options: {
    account?: Account;
    createError?: Error;
    peers?: ServiceAccount[];
    identityStatus?: string;
    capabilities?: string[];
    withBootstrap?: boolean;
    now?: string;
  } = {},
): ReconcileDeps {
  const source = { id: 'source-1', name: 'Service Accounts' };
  const accountSchema = {
    id: 'schema-1',
    name: 'account',
    attributes: ['id', 'name', 'e-mail', 'purpose'].map((name) => ({
      name,
      type: 'STRING' as const,
    })),
  };
  return {
    resources: {
      patchStatus: async (target: ServiceAccount, status: ServiceAccountStatus) => {
        recorder.statusPatches.push(status);
        return { ...target, metadata: { ...target.metadata, resourceVersion: 'next' } };
      },
      patchSpec: async () => {
        recorder.calls.push('patchSpec');
        return resource();
      },
      writeOwnedSecret: async (_owner: unknown, name: string, data: Record<string, string>) => {
        recorder.calls.push(`secret:${name}=${data.clientId}`);
      },
      deleteSecret: async (_namespace: string, name: string) => {
        recorder.calls.push(`delete-secret:${name}`);
      },
      setFinalizers: async () => {
        recorder.calls.push('setFinalizers');
        return resource();
      },
    } as unknown as ReconcileDeps['resources'],
    api: {
      findAccount: async () => {
        recorder.calls.push('findAccount');
        return options.account;
      },
      createAccount: async () => {
        recorder.calls.push('createAccount');
        if (options.createError) throw options.createError;
        return { id: 'task-1' };
      },
      updateAccount: async () => {
        recorder.calls.push('updateAccount');
      },
      getIdentity: async (id: string) => ({
        id,
        name: 'audit01',
        identityStatus: options.identityStatus ?? 'UNREGISTERED',
        attributes: { email: 'admin@example.com' },
      }),
      inviteIdentities: async () => {
        recorder.calls.push('invite');
      },
      getAuthUserCapabilities: async () => [...(options.capabilities ?? [])],
      setAuthUserCapabilities: async (_id: string, capabilities: string[]) => {
        recorder.calls.push(`levels:${capabilities.join('+')}`);
      },
      deleteAccount: async () => {
        recorder.calls.push('deleteAccount');
        return true;
      },
    } as unknown as ReconcileDeps['api'],
    tenant: {
      ensure: async () => ({ source, accountSchema, identityProfile: { id: 'p' } }),
      observe: async () => ({ source, accountSchema }),
      invalidate: () => recorder.calls.push('invalidate'),
      requestIdentityProcessing: async () => {
        recorder.calls.push('process');
        return true;
      },
    } as unknown as ReconcileDeps['tenant'],
    peers: () => options.peers ?? [],
    accountCreateTimeoutMs: 600_000,
    pendingDeletes: new Map(),
    pendingUpdates: new Map(),
    verifiedIdentities: new Map(),
    allowedUserLevels: new Set(['HELPDESK', 'SOURCE_ADMIN']),
    serviceAccountApi: async () =>
      options.withBootstrap
        ? ({
            createPersonalAccessToken: async (input: { name: string }) => {
              recorder.calls.push(`mint:${input.name}`);
              return { id: `pat-${input.name}`, secret: 'not-a-real-secret' };
            },
            listOwnPersonalAccessTokens: async () => [],
            deletePersonalAccessToken: async (id: string) => {
              recorder.calls.push(`revoke:${id}`);
              return true;
            },
          } as unknown as ReconcileDeps['api'])
        : 'no bootstrap credentials in unit tests',
    tenantBaseUrl: 'https://acme.api.identitynow.com',
    now: () => new Date(options.now ?? '2026-01-01T01:00:00Z'),
  };
}

function account(attributes: Record<string, string>): Account {
  return {
    id: 'account-1',
    name: 'audit01',
    nativeIdentity: 'SA-001',
    sourceId: 'source-1',
    identityId: 'identity-1',
    attributes,
  };
}

const current = { id: 'SA-001', name: 'audit01', 'e-mail': 'admin@example.com', purpose: 'Audit' };

test('create marks status before sending', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const { outcome } = await reconcileServiceAccount(deps(recorder), resource());
  assert.is(outcome.kind, 'waiting');
  assert.equal(recorder.calls, ['findAccount', 'createAccount']);
  assert.type(recorder.statusPatches[0]?.accountCreateRequestedAt, 'string');
});

test('rejected create clears the marker', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const rejection = new IscApiError({
    status: 400,
    method: 'POST',
    path: '/v2025/accounts',
    detail: { messages: ['The source does not exist.'] },
  });
  try {
    await reconcileServiceAccount(deps(recorder, { createError: rejection }), resource());
    assert.unreachable('the rejection was swallowed');
  } catch (error) {
    assert.is(error, rejection);
  }
  assert.is(recorder.statusPatches.at(-1)?.accountCreateRequestedAt, null);
  assert.ok(recorder.calls.includes('invalidate'), 'the tenant cache was kept after a 400');
});

test('timed-out create keeps the marker', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const timeout = new IscNetworkError('POST', '/v2025/accounts', { code: 'ETIMEDOUT' });
  try {
    await reconcileServiceAccount(deps(recorder, { createError: timeout }), resource());
  } catch {
    // expected
  }
  assert.is(recorder.statusPatches.length, 1);
  assert.type(recorder.statusPatches[0]?.accountCreateRequestedAt, 'string');
});

test('pending create is waited for, not resent', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const pending = resource({ status: { accountCreateRequestedAt: '2026-01-01T00:59:00Z' } });
  const { outcome } = await reconcileServiceAccount(deps(recorder), pending);
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'WaitingForAccount');
  assert.not.ok(recorder.calls.includes('createAccount'));
});

test('update is sent once while in flight', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account({ ...current, purpose: 'Old' }) });
  const owned = resource({ status: { accountOwned: true } });
  await reconcileServiceAccount(context, owned);
  await reconcileServiceAccount(context, owned);
  assert.equal(
    recorder.calls.filter((call) => call === 'updateAccount'),
    ['updateAccount'],
  );
});

test('invitation is sent once', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current) });
  const first = await reconcileServiceAccount(
    context,
    resource({ status: { accountOwned: true } }),
  );
  assert.equal(
    recorder.calls.filter((call) => call === 'invite'),
    ['invite'],
  );
  assert.is(first.observed.invitation?.count, 1);
  const invited = resource({
    status: { accountOwned: true, invitation: first.observed.invitation },
  });
  await reconcileServiceAccount(context, invited);
  assert.equal(
    recorder.calls.filter((call) => call === 'invite'),
    ['invite'],
  );
});

test('invitation resend follows annotation', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current) });
  const invited = resource({
    metadata: { ...resource().metadata, annotations: { 'isc.sailpoint/resend-invite': 'again' } },
    status: { accountOwned: true, invitation: { sentAt: '2026-01-01T00:30:00Z', count: 1 } },
  });
  const { observed } = await reconcileServiceAccount(context, invited);
  assert.equal(
    recorder.calls.filter((call) => call === 'invite'),
    ['invite'],
  );
  assert.is(observed.invitation?.handledResendRequest, 'again');
});

test('registered identity gets no invitation', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current), identityStatus: 'ACTIVE' });
  const { observed } = await reconcileServiceAccount(
    context,
    resource({ status: { accountOwned: true } }),
  );
  assert.not.ok(recorder.calls.includes('invite'));
  assert.is(observed.invitation?.registered, true);
});

test('invite false sends nothing', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current) });
  const quiet = resource({
    spec: { ...resource().spec, invite: false },
    status: { accountOwned: true },
  });
  await reconcileServiceAccount(context, quiet);
  assert.not.ok(recorder.calls.includes('invite'));
});

test('expired invitation is sent once more', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current) });
  const stale = resource({
    status: { accountOwned: true, invitation: { sentAt: '2025-12-20T00:00:00Z', count: 1 } },
  });
  await reconcileServiceAccount(context, stale);
  assert.equal(
    recorder.calls.filter((call) => call === 'invite'),
    ['invite'],
  );
  const twice = resource({
    status: { accountOwned: true, invitation: { sentAt: '2025-12-20T00:00:00Z', count: 2 } },
  });
  await reconcileServiceAccount(context, twice);
  assert.equal(
    recorder.calls.filter((call) => call === 'invite'),
    ['invite'],
  );
});

test('user levels keep what a person set', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current), capabilities: ['REPORT_ADMIN'] });
  const wanting = resource({
    spec: { ...resource().spec, userLevel: ['HELPDESK'], invite: false },
    status: { accountOwned: true },
  });
  const { observed } = await reconcileServiceAccount(context, wanting);
  assert.ok(recorder.calls.includes('levels:REPORT_ADMIN+HELPDESK'), recorder.calls.join(' '));
  assert.equal(observed.userLevelsAdded, ['HELPDESK']);
});

test('withdrawn user level is removed', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, {
    account: account(current),
    capabilities: ['REPORT_ADMIN', 'HELPDESK'],
  });
  const withdrawn = resource({
    spec: { ...resource().spec, invite: false },
    status: { accountOwned: true, userLevelsAdded: ['HELPDESK'] },
  });
  const { observed } = await reconcileServiceAccount(context, withdrawn);
  assert.ok(recorder.calls.includes('levels:REPORT_ADMIN'), recorder.calls.join(' '));
  assert.equal(observed.userLevelsAdded, []);
});

test('disallowed user level stalls', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const greedy = resource({ spec: { ...resource().spec, userLevel: ['ORG_ADMIN'] } });
  const { outcome } = await reconcileServiceAccount(deps(recorder), greedy);
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'UserLevelNotAllowed');
  assert.equal(recorder.calls, []);
});

const tokenSpec = { name: 'reporting', secretName: 'audit01-reporting', validForDays: 30 };

test('token is minted into its Secret', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current), withBootstrap: true });
  const wanting = resource({
    spec: { ...resource().spec, invite: false, tokens: [tokenSpec] },
    status: { accountOwned: true },
  });
  const { observed } = await reconcileServiceAccount(context, wanting);
  assert.ok(recorder.calls.includes('mint:reporting'), recorder.calls.join(' '));
  assert.ok(recorder.calls.includes('secret:audit01-reporting=pat-reporting'));
  assert.is(observed.tokens?.[0]?.id, 'pat-reporting');
  assert.is(observed.tokens?.[0]?.expiresAt, '2026-01-31T01:00:00.000Z');
});

test('token is rotated before expiry', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const minted = {
    name: 'reporting',
    id: 'pat-reporting',
    secretName: 'audit01-reporting',
    expiresAt: '2026-01-31T01:00:00.000Z',
  };
  const spec = { ...resource().spec, invite: false, tokens: [tokenSpec] };
  // Eight days before expiry nothing happens; six days before, the token is rotated.
  const early = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    now: '2026-01-23T01:00:00Z',
  });
  await reconcileServiceAccount(
    early,
    resource({ spec, status: { accountOwned: true, tokens: [minted] } }),
  );
  assert.not.ok(recorder.calls.some((call) => call.startsWith('mint:')));

  const late = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    now: '2026-01-25T01:00:00Z',
  });
  const { observed } = await reconcileServiceAccount(
    late,
    resource({ spec, status: { accountOwned: true, tokens: [minted] } }),
  );
  assert.ok(recorder.calls.includes('mint:reporting-r1'), recorder.calls.join(' '));
  assert.ok(recorder.calls.includes('secret:audit01-reporting=pat-reporting-r1'));
  assert.not.ok(recorder.calls.includes('revoke:pat-reporting'), 'old PAT revoked at once');
  const rotated = observed.tokens?.[0];
  assert.is(rotated?.previousId, 'pat-reporting');
  assert.is(rotated?.retireAt, '2026-01-25T02:00:00.000Z');

  const afterGrace = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    now: '2026-01-25T02:30:00Z',
  });
  const retired = await reconcileServiceAccount(
    afterGrace,
    resource({ spec, status: { accountOwned: true, tokens: [rotated!] } }),
  );
  assert.ok(recorder.calls.includes('revoke:pat-reporting'));
  assert.is(retired.observed.tokens?.[0]?.previousId, undefined);
});

test('removed token is revoked', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current), withBootstrap: true });
  const minted = { name: 'reporting', id: 'pat-reporting', secretName: 'audit01-reporting' };
  const { observed } = await reconcileServiceAccount(
    context,
    resource({
      spec: { ...resource().spec, invite: false },
      status: { accountOwned: true, tokens: [minted] },
    }),
  );
  assert.ok(recorder.calls.includes('revoke:pat-reporting'));
  assert.ok(recorder.calls.includes('delete-secret:audit01-reporting'));
  assert.equal(observed.tokens, []);
});

test('tokens without bootstrap credentials stall', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current) });
  const wanting = resource({
    spec: { ...resource().spec, invite: false, tokens: [tokenSpec] },
    status: { accountOwned: true },
  });
  const { outcome } = await reconcileServiceAccount(context, wanting);
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'BootstrapCredentialsMissing');
});

test('foreign account is not touched', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account({ ...current, purpose: 'Theirs' }) });
  const { outcome } = await reconcileServiceAccount(context, resource());
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'AccountNotOwned');
  assert.not.ok(recorder.calls.includes('updateAccount'));
});

test('rival ids differing in case collide', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const older = resource({
    metadata: {
      ...resource().metadata,
      name: 'first',
      uid: 'older',
      creationTimestamp: new Date('2025-01-01'),
    },
    spec: { accountId: 'sa-001', email: 'x@example.com' },
  });
  const { outcome } = await reconcileServiceAccount(deps(recorder, { peers: [older] }), resource());
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'DuplicateAccountId');
  assert.equal(recorder.calls, []);
});

test('deletion waits for an in-flight create', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const deleting = resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    status: { accountCreateRequestedAt: '2026-01-01T00:59:00Z' },
  });
  const { outcome } = await reconcileServiceAccount(deps(recorder), deleting);
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'DeletingAccount');
  assert.not.ok(recorder.calls.includes('setFinalizers'), 'the finalizer was released early');
});

test('deletion removes an owned account', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const deleting = resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    status: { accountOwned: true },
  });
  await reconcileServiceAccount(deps(recorder, { account: account(current) }), deleting);
  assert.ok(recorder.calls.includes('deleteAccount'));
});

test('orphan policy releases without deleting', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const deleting = resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    spec: { ...resource().spec, deletionPolicy: 'Orphan' },
    status: { accountOwned: true },
  });
  await reconcileServiceAccount(deps(recorder, { account: account(current) }), deleting);
  assert.equal(recorder.calls, ['setFinalizers']);
});

test.run();

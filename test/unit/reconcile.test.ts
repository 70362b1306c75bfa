/**
 * Reconcile decisions with stubbed ISC and Kubernetes clients: which calls are made and what the
 * status markers become. The end-to-end suite covers the same paths against real servers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ReconcileDeps,
  reconcileServiceAccount,
  releaseWithoutTenant,
} from '../../src/controller/reconcile.ts';
import { IscAmbiguousError, IscApiError, IscNetworkError } from '../../src/isc/errors.ts';
import type { Account } from '../../src/isc/types.ts';
import { SecretConflictError } from '../../src/kube/client.ts';
import type { ServiceAccount, ServiceAccountStatus } from '../../src/kube/types.ts';

interface Recorder {
  calls: string[];
  statusPatches: ServiceAccountStatus[];
}

/** getIdentity calls across tests; a test reads the difference. */
let identityReads = 0;

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
    /** PATs the service account's own list returns. */
    ownTokens?: Array<{ id: string; name: string; scope?: string[] | null }>;
    /** Scopes a new access token of a token Secret's credential carries. */
    grantedScopes?: string[];
    /** Client id in the bootstrap Secret. */
    bootstrapClientId?: string;
    /** Token Secrets that exist, by name: written by the operator for the resource, or not. */
    secrets?: Record<string, 'owned' | 'foreign'>;
    /** Throw SecretConflictError from writeOwnedSecret, as when a Secret appears after the check. */
    secretAppears?: boolean;
    /** HTTP status ISC returns for PAT deletes with the service account's credential. */
    ownRevokeStatus?: number;
    /** HTTP status ISC returns for PAT deletes with the Tenant's credential. */
    tenantRevokeStatus?: number;
    /** PAT ids ISC no longer has, so deleting them returns false. */
    goneTokens?: string[];
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
        if (options.secretAppears) throw new SecretConflictError('default', name);
        recorder.calls.push(`secret:${name}=${data.clientId}`);
      },
      secretClaim: async (_owner: unknown, name: string) => options.secrets?.[name] ?? 'absent',
      deleteOwnedSecret: async (_owner: unknown, name: string) => {
        if (options.secrets?.[name] === 'foreign') return false;
        recorder.calls.push(`delete-secret:${name}`);
        return true;
      },
      readSecret: async (_namespace: string, name: string) => ({
        metadata: { name, namespace: 'default', resourceVersion: '7' },
        data: {},
      }),
      updateSecretData: async (
        secret: { metadata: { name: string; resourceVersion: string } },
        values: Record<string, string>,
      ) => {
        recorder.calls.push(
          `update-secret:${secret.metadata.name}@${secret.metadata.resourceVersion}=${values.clientId}`,
        );
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
      getIdentity: async (id: string) => {
        identityReads++;
        return {
          id,
          name: 'audit01',
          identityStatus: options.identityStatus ?? 'UNREGISTERED',
          attributes: { email: 'admin@example.com' },
        };
      },
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
      deletePersonalAccessToken: async (id: string) => {
        if (options.tenantRevokeStatus) throw patDeleteError(options.tenantRevokeStatus, id);
        recorder.calls.push(`tenant-revoke:${id}`);
        return !options.goneTokens?.includes(id);
      },
      listPersonalAccessTokensOf: async () => options.ownTokens ?? [],
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
            listOwnPersonalAccessTokens: async () => {
              recorder.calls.push('list-pats');
              const revoked = recorder.calls.filter((call) => call.startsWith('revoke:'));
              return (options.ownTokens ?? []).filter(
                (pat) => !revoked.includes(`revoke:${pat.id}`),
              );
            },
            deletePersonalAccessToken: async (id: string) => {
              if (options.ownRevokeStatus) throw patDeleteError(options.ownRevokeStatus, id);
              recorder.calls.push(`revoke:${id}`);
              return !options.goneTokens?.includes(id);
            },
            setPersonalAccessTokenScopes: async (id: string, scopes: string[]) => {
              recorder.calls.push(`scopes:${id}=${scopes.join('+')}`);
            },
            client: { credentialId: options.bootstrapClientId ?? 'boot-1' },
          } as unknown as ReconcileDeps['api'])
        : 'no bootstrap credentials in unit tests',
    grantedScopes: async (_namespace: string, secretName: string) => {
      recorder.calls.push(`check:${secretName}`);
      return options.grantedScopes;
    },
    forgetCredential: (clientId: string) => {
      recorder.calls.push(`forget:${clientId}`);
    },
    tenantBaseUrl: 'https://acme.api.identitynow.com',
    now: () => new Date(options.now ?? '2026-01-01T01:00:00Z'),
  };
}

function patDeleteError(status: number, id: string): IscApiError {
  return new IscApiError({
    status,
    method: 'DELETE',
    path: `/v2025/personal-access-tokens/${id}`,
    detail: { messages: ['refused'] },
  });
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

test('stale snapshot miss sends no second create', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  // The create went out two hours ago, past the timeout; the resync's snapshot predates it,
  // but ISC has the account now.
  const context = deps(recorder, { account: account(current) });
  context.lookupAccount = async () => {
    recorder.calls.push('snapshot');
    return undefined;
  };
  const sent = resource({ status: { accountCreateRequestedAt: '2025-12-31T23:00:00Z' } });
  await reconcileServiceAccount(context, sent);
  assert.equal(recorder.calls.slice(0, 2), ['snapshot', 'findAccount']);
  assert.not.ok(recorder.calls.includes('createAccount'), 'the create was sent again');
});

test('snapshot miss confirmed by a read creates', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder);
  context.lookupAccount = async () => {
    recorder.calls.push('snapshot');
    return undefined;
  };
  await reconcileServiceAccount(context, resource());
  assert.equal(recorder.calls, ['snapshot', 'findAccount', 'createAccount']);
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
    createdAt: '2026-01-01T01:00:00.000Z',
    expiresAt: '2026-01-31T01:00:00.000Z',
    scopes: ['sp:scopes:all'],
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

test('foreign Secret gets no PAT', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    secrets: { unrelated: 'foreign' },
  });
  const wanting = resource({
    spec: {
      ...resource().spec,
      invite: false,
      tokens: [tokenSpec, { name: 'other', secretName: 'unrelated' }],
    },
    status: { accountOwned: true },
  });
  const { outcome, observed } = await reconcileServiceAccount(context, wanting);
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'SecretConflict');
  assert.match(outcome.kind === 'stalled' ? outcome.message : '', 'Secret default/unrelated');
  assert.not.ok(recorder.calls.includes('mint:other'), recorder.calls.join(' '));
  assert.not.ok(recorder.calls.some((call) => call.startsWith('secret:unrelated')));
  assert.ok(recorder.calls.includes('mint:reporting'), 'the other token was not minted');
  assert.equal(
    observed.tokens?.map((entry) => entry.name),
    ['reporting'],
  );
});

// Tokens stored before the CRD rejected these specs: neither is minted into a shared Secret.
const specConflictCases: Array<[string, Record<string, unknown>, string, string]> = [
  [
    'bootstrap Secret',
    {
      bootstrapCredentialsSecretRef: { name: 'boot' },
      tokens: [{ name: 'a', secretName: 'boot' }],
    },
    'mint:a',
    'names the bootstrap Secret boot',
  ],
  [
    'shared Secret',
    {
      tokens: [
        { name: 'x', secretName: 'shared' },
        { name: 'y', secretName: 'shared' },
      ],
    },
    'mint:y',
    'tokens "x" and "y" both name Secret shared',
  ],
];

for (const [name, tokenFields, notMinted, message] of specConflictCases) {
  test(`token on ${name} stalls`, async () => {
    const recorder: Recorder = { calls: [], statusPatches: [] };
    const context = deps(recorder, { account: account(current), withBootstrap: true });
    const wanting = resource({
      spec: { ...resource().spec, invite: false, ...tokenFields },
      status: { accountOwned: true },
    });
    const { outcome } = await reconcileServiceAccount(context, wanting);
    assert.is(outcome.kind === 'stalled' && outcome.reason, 'SecretConflict');
    assert.match(outcome.kind === 'stalled' ? outcome.message : '', message);
    assert.not.ok(recorder.calls.includes(notMinted), recorder.calls.join(' '));
  });
}

test('Secret created during mint revokes PAT', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    secretAppears: true,
  });
  const wanting = resource({
    spec: { ...resource().spec, invite: false, tokens: [tokenSpec] },
    status: { accountOwned: true },
  });
  const { outcome, observed } = await reconcileServiceAccount(context, wanting);
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'SecretConflict');
  assert.ok(recorder.calls.includes('revoke:pat-reporting'), recorder.calls.join(' '));
  assert.equal(observed.tokens, []);
});

test('removed token keeps a foreign Secret', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    secrets: { 'audit01-reporting': 'foreign' },
  });
  const minted = { name: 'reporting', id: 'pat-reporting', secretName: 'audit01-reporting' };
  await reconcileServiceAccount(
    context,
    resource({
      spec: { ...resource().spec, invite: false },
      status: { accountOwned: true, tokens: [minted] },
    }),
  );
  assert.ok(recorder.calls.includes('revoke:pat-reporting'));
  assert.not.ok(recorder.calls.includes('delete-secret:audit01-reporting'));
});

const mintedToken = {
  name: 'reporting',
  id: 'pat-reporting',
  iscName: 'reporting',
  secretName: 'audit01-reporting',
  createdAt: '2026-01-01T01:00:00.000Z',
  expiresAt: '2026-01-31T01:00:00.000Z',
  scopes: ['idn:accounts:read'],
};

test('rotation lead time is configurable', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    tokens: [{ ...tokenSpec, scopes: ['idn:accounts:read'], rotateBeforeExpiryHours: 48 }],
  };
  const status = { accountOwned: true, tokens: [mintedToken] };
  // Three days before expiry the default lead (7 days) would rotate; 48 hours does not yet.
  const early = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    now: '2026-01-28T01:00:00Z',
  });
  await reconcileServiceAccount(early, resource({ spec, status }));
  assert.not.ok(
    recorder.calls.some((call) => call.startsWith('mint:')),
    recorder.calls.join(' '),
  );

  const late = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    now: '2026-01-29T02:00:00Z',
  });
  await reconcileServiceAccount(late, resource({ spec, status }));
  assert.ok(recorder.calls.includes('mint:reporting-r1'), recorder.calls.join(' '));
});

test('grace period is configurable', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    tokens: [{ ...tokenSpec, scopes: ['idn:accounts:read'], rotationGracePeriodMinutes: 5 }],
  };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    now: '2026-01-29T00:00:00Z',
  });
  const { observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, tokens: [mintedToken] } }),
  );
  assert.is(observed.tokens?.[0]?.retireAt, '2026-01-29T00:05:00.000Z');
});

test('short-lived token is not rotated at once', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  // A 2-day PAT with the default 7-day lead rotates at half its life, not on every reconcile.
  const spec = { ...resource().spec, invite: false, tokens: [{ ...tokenSpec, validForDays: 2 }] };
  const fresh = {
    ...mintedToken,
    scopes: ['sp:scopes:all'],
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-03T00:00:00.000Z',
  };
  const context = deps(recorder, { account: account(current), withBootstrap: true });
  await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, tokens: [fresh] } }),
  );
  assert.equal(recorder.calls, ['findAccount']);
});

test('scope change patches the existing PAT', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    tokens: [{ ...tokenSpec, scopes: ['idn:sources:read', 'idn:accounts:read'] }],
  };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    grantedScopes: ['idn:accounts:read'],
  });
  const { outcome, observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, tokens: [mintedToken] } }),
  );
  assert.ok(
    recorder.calls.includes('scopes:pat-reporting=idn:accounts:read+idn:sources:read'),
    recorder.calls.join(' '),
  );
  assert.ok(recorder.calls.includes('forget:pat-reporting'), 'cached client kept');
  assert.not.ok(
    recorder.calls.some((call) => call.startsWith('mint:')),
    'a new PAT was minted',
  );
  assert.not.ok(
    recorder.calls.some((call) => call.startsWith('secret:')),
    'Secret rewritten',
  );
  assert.is(observed.tokens?.[0]?.id, 'pat-reporting');
  assert.equal(observed.tokens?.[0]?.scopes, ['idn:accounts:read', 'idn:sources:read']);
  assert.is(observed.tokens?.[0]?.scopesChangedAt, '2026-01-01T01:00:00.000Z');
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'WaitingForTokenScopes');
});

test('applied scopes end the wait', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const scopes = ['idn:accounts:read', 'idn:sources:read'];
  const spec = { ...resource().spec, invite: false, tokens: [{ ...tokenSpec, scopes }] };
  const changed = { ...mintedToken, scopes, scopesChangedAt: '2026-01-01T00:55:00.000Z' };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    grantedScopes: ['idn:sources:read', 'idn:accounts:read'],
  });
  const { outcome, observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, tokens: [changed] } }),
  );
  assert.is(outcome.kind, 'ready');
  assert.is(observed.tokens?.[0]?.scopesChangedAt, undefined);
  assert.not.ok(
    recorder.calls.some((call) => call.startsWith('scopes:')),
    'patched again',
  );
});

test('scopes not applied in time stall', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const scopes = ['idn:accounts:read', 'idn:sources:read'];
  const spec = { ...resource().spec, invite: false, tokens: [{ ...tokenSpec, scopes }] };
  const changed = { ...mintedToken, scopes, scopesChangedAt: '2026-01-01T00:20:00.000Z' };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    grantedScopes: ['idn:accounts:read'],
  });
  const { outcome } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, tokens: [changed] } }),
  );
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'TokenScopesNotApplied');
});

test('unrecorded scopes are read from ISC', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const { scopes: _scopes, ...legacy } = mintedToken;
  const spec = {
    ...resource().spec,
    invite: false,
    tokens: [{ ...tokenSpec, scopes: ['idn:accounts:read'] }],
  };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    ownTokens: [{ id: 'pat-reporting', name: 'reporting', scope: ['idn:accounts:read'] }],
  });
  const { outcome, observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, tokens: [legacy] } }),
  );
  assert.is(outcome.kind, 'ready');
  assert.not.ok(
    recorder.calls.some((call) => call.startsWith('scopes:')),
    'patched needlessly',
  );
  assert.equal(observed.tokens?.[0]?.scopes, ['idn:accounts:read']);
});

const rotatingBootstrap = {
  name: 'audit01-bootstrap',
  rotation: { validForDays: 30, rotateBeforeExpiryHours: 72, rotationGracePeriodMinutes: 30 },
};

test('bootstrap rotation replaces a hand-made PAT', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    bootstrapCredentialsSecretRef: rotatingBootstrap,
  };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-1',
    ownTokens: [
      { id: 'boot-1', name: 'made-by-hand', scope: ['sp:my-personal-access-tokens:manage'] },
    ],
  });
  const { observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true } }),
  );
  // The intent is in status before the PAT exists.
  const intent = recorder.statusPatches.find((patch) => patch.bootstrapCredentials?.rotation);
  assert.is(intent?.bootstrapCredentials?.rotation?.replacing, 'boot-1');
  assert.is(intent?.bootstrapCredentials?.rotation?.iscName, 'bootstrap-r1');
  const order = recorder.calls.filter((call) => /^(mint|update-secret|revoke)/.test(call));
  assert.equal(order, ['mint:bootstrap-r1', 'update-secret:audit01-bootstrap@7=pat-bootstrap-r1']);
  assert.ok(recorder.calls.includes('forget:boot-1'));
  const state = observed.bootstrapCredentials;
  assert.is(state?.id, 'pat-bootstrap-r1');
  assert.is(state?.previousId, 'boot-1');
  assert.is(state?.retireAt, '2026-01-01T01:30:00.000Z');
  assert.is(state?.expiresAt, '2026-01-31T01:00:00.000Z');
  assert.is(state?.rotation, undefined);
  // A merge patch removes a field only when it is sent as null.
  const last = recorder.statusPatches.at(-1)?.bootstrapCredentials;
  assert.is(last?.rotation, null);
});

test('bootstrap rotation waits until due', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    bootstrapCredentialsSecretRef: rotatingBootstrap,
  };
  const own = {
    id: 'boot-2',
    iscName: 'bootstrap-r1',
    rotations: 1,
    expiresAt: '2026-01-31T01:00:00.000Z',
  };
  const early = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-2',
    now: '2026-01-27T01:00:00Z',
  });
  await reconcileServiceAccount(
    early,
    resource({ spec, status: { accountOwned: true, bootstrapCredentials: own } }),
  );
  assert.equal(recorder.calls, ['findAccount']);

  const late = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-2',
    now: '2026-01-28T02:00:00Z',
  });
  await reconcileServiceAccount(
    late,
    resource({ spec, status: { accountOwned: true, bootstrapCredentials: own } }),
  );
  assert.ok(recorder.calls.includes('mint:bootstrap-r2'), recorder.calls.join(' '));
});

test('bootstrap PAT is retired after the grace period', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    bootstrapCredentialsSecretRef: rotatingBootstrap,
  };
  const rotated = {
    id: 'boot-2',
    iscName: 'bootstrap-r1',
    rotations: 1,
    expiresAt: '2026-01-31T01:00:00.000Z',
    previousId: 'boot-1',
    retireAt: '2026-01-01T01:30:00.000Z',
  };
  const during = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-2',
  });
  await reconcileServiceAccount(
    during,
    resource({ spec, status: { accountOwned: true, bootstrapCredentials: rotated } }),
  );
  assert.not.ok(recorder.calls.includes('revoke:boot-1'), 'revoked within the grace period');

  const after = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-2',
    now: '2026-01-01T01:31:00Z',
  });
  const { observed } = await reconcileServiceAccount(
    after,
    resource({ spec, status: { accountOwned: true, bootstrapCredentials: rotated } }),
  );
  assert.ok(recorder.calls.includes('revoke:boot-1'), recorder.calls.join(' '));
  assert.is(observed.bootstrapCredentials?.previousId, undefined);
  assert.not.ok(
    recorder.calls.some((call) => call.startsWith('mint:')),
    'rotated again',
  );
});

const interrupted = {
  rotation: {
    requestedAt: '2026-01-01T00:59:00.000Z',
    iscName: 'bootstrap-r1',
    replacing: 'boot-1',
    expiresAt: '2026-01-31T00:59:00.000Z',
  },
};

test('restart after create undoes the rotation', async () => {
  // Killed after the PAT was created, before the Secret was written: its secret is lost.
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    bootstrapCredentialsSecretRef: rotatingBootstrap,
  };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-1',
    ownTokens: [
      { id: 'boot-1', name: 'made-by-hand' },
      { id: 'lost-1', name: 'bootstrap-r1' },
    ],
  });
  const { observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, bootstrapCredentials: interrupted } }),
  );
  const order = recorder.calls.filter((call) => /^(mint|update-secret|revoke)/.test(call));
  assert.equal(order, [
    'revoke:lost-1',
    'mint:bootstrap-r1',
    'update-secret:audit01-bootstrap@7=pat-bootstrap-r1',
  ]);
  assert.is(observed.bootstrapCredentials?.id, 'pat-bootstrap-r1');
  assert.is(observed.bootstrapCredentials?.previousId, 'boot-1');
});

test('restart after Secret write finishes the rotation', async () => {
  // Killed after the Secret was written, before status recorded the new PAT.
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const spec = {
    ...resource().spec,
    invite: false,
    bootstrapCredentialsSecretRef: rotatingBootstrap,
  };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-new',
    ownTokens: [
      { id: 'boot-1', name: 'made-by-hand' },
      { id: 'boot-new', name: 'bootstrap-r1' },
    ],
  });
  const { observed } = await reconcileServiceAccount(
    context,
    resource({ spec, status: { accountOwned: true, bootstrapCredentials: interrupted } }),
  );
  assert.not.ok(
    recorder.calls.some((call) => /^(mint|update-secret|revoke)/.test(call)),
    recorder.calls.join(' '),
  );
  const state = observed.bootstrapCredentials;
  assert.is(state?.id, 'boot-new');
  assert.is(state?.previousId, 'boot-1');
  assert.is(state?.rotations, 1);
  assert.is(state?.rotation, undefined);
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
  assert.match(
    outcome.kind === 'stalled' ? outcome.message : '',
    'spec.accountId is immutable, so delete this resource and create it again with another ' +
      'spec.accountId',
  );
  assert.equal(recorder.calls, []);
});

test('rival name asks for a new resource', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const older = resource({
    metadata: {
      ...resource().metadata,
      name: 'first',
      uid: 'older',
      creationTimestamp: new Date('2025-01-01'),
    },
    spec: { accountId: 'SA-OTHER', name: 'audit01', email: 'x@example.com' },
  });
  const { outcome } = await reconcileServiceAccount(deps(recorder, { peers: [older] }), resource());
  const message = outcome.kind === 'stalled' ? outcome.message : '';
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'DuplicateAccountId');
  assert.match(message, 'already claims account name "audit01"');
  assert.match(message, 'delete this resource and create it again with another spec.name');
  assert.not.match(message, 'choose another');
});

test('older observer stalls a managed duplicate', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const observer = resource({
    metadata: {
      ...resource().metadata,
      namespace: 'audit',
      name: 'watcher',
      uid: 'observer',
      creationTimestamp: new Date('2025-01-01'),
    },
    spec: { accountId: 'SA-001', email: 'x@example.com', managementPolicy: 'ObserveOnly' },
  });
  const { outcome } = await reconcileServiceAccount(
    deps(recorder, { peers: [observer] }),
    resource(),
  );
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'DuplicateAccountId');
  assert.match(
    outcome.kind === 'stalled' ? outcome.message : '',
    'ServiceAccount audit/watcher already claims account id "SA-001"',
  );
  assert.equal(recorder.calls, []);
});

test('newer observer leaves the managed claim', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const observer = resource({
    metadata: {
      ...resource().metadata,
      name: 'watcher',
      uid: 'observer',
      creationTimestamp: new Date('2026-06-01'),
    },
    spec: { accountId: 'SA-001', email: 'x@example.com', managementPolicy: 'ObserveOnly' },
  });
  const context = deps(recorder, { account: account(current), peers: [observer] });
  const { outcome } = await reconcileServiceAccount(context, resource());
  assert.is.not(outcome.kind === 'stalled' && outcome.reason, 'DuplicateAccountId');
});

test('observer beside an older claim keeps observing', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const older = resource({
    metadata: {
      ...resource().metadata,
      name: 'manager',
      uid: 'older',
      creationTimestamp: new Date('2025-01-01'),
    },
  });
  const observer = resource({
    metadata: { ...resource().metadata, finalizers: [] },
    spec: { ...resource().spec, managementPolicy: 'ObserveOnly' },
  });
  const context = deps(recorder, { account: account(current), peers: [older] });
  const { outcome } = await reconcileServiceAccount(context, observer);
  assert.is(outcome.kind === 'ready' && outcome.reason, 'Observed');
  assert.equal(recorder.calls, ['findAccount']);
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
    status: { accountOwned: true, identityId: 'identity-1', userLevelsAdded: ['HELPDESK'] },
  });
  const context = deps(recorder, { account: account(current), capabilities: ['HELPDESK'] });
  await reconcileServiceAccount(context, deleting);
  assert.equal(recorder.calls, ['setFinalizers'], 'no account delete and no user level change');
});

const deletingWithTokens = (spec: Partial<ServiceAccount['spec']> = {}) =>
  resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    spec: { ...resource().spec, ...spec },
    status: {
      accountOwned: true,
      identityId: 'identity-1',
      tokens: [
        { name: 'reporting', id: 'pat-r1', previousId: 'pat-r0', secretName: 'a' },
        { name: 'backup', requestedAt: '2026-01-01T00:50:00Z' },
      ],
      bootstrapCredentials: { id: 'boot-2', previousId: 'boot-1' },
    },
  });

test('deletion revokes PATs before the account', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    bootstrapClientId: 'boot-2',
    ownTokens: [{ id: 'pat-b', name: 'backup' }],
    goneTokens: ['pat-r0'],
  });
  const { outcome } = await reconcileServiceAccount(context, deletingWithTokens());
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'DeletingAccount');
  const revokes = recorder.calls.filter((call) => call.startsWith('revoke:'));
  assert.equal(revokes, ['revoke:pat-r1', 'revoke:pat-r0', 'revoke:boot-1', 'revoke:pat-b']);
  assert.not.ok(recorder.calls.includes('revoke:boot-2'), 'the bootstrap PAT was revoked');
  const lastRevoke = recorder.calls.lastIndexOf('revoke:pat-b');
  assert.ok(lastRevoke < recorder.calls.indexOf('deleteAccount'), recorder.calls.join(' '));
  assert.equal(recorder.statusPatches[0], { tokens: [], bootstrapCredentials: null });
});

test('deletion revokes with the Tenant credential', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current), ownTokens: [] });
  await reconcileServiceAccount(context, deletingWithTokens());
  const revokes = recorder.calls.filter((call) => call.startsWith('tenant-revoke:'));
  assert.equal(revokes, ['tenant-revoke:pat-r1', 'tenant-revoke:pat-r0', 'tenant-revoke:boot-1']);
  assert.ok(recorder.calls.includes('deleteAccount'));
});

test('refused revocation stalls the deletion', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, {
    account: account(current),
    withBootstrap: true,
    ownRevokeStatus: 401,
    tenantRevokeStatus: 403,
  });
  const { outcome } = await reconcileServiceAccount(context, deletingWithTokens());
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'TokenRevocationFailed');
  assert.match(outcome.kind === 'stalled' ? outcome.message : '', 'deletionPolicy Orphan');
  assert.not.ok(recorder.calls.includes('deleteAccount'));
  assert.not.ok(recorder.calls.includes('setFinalizers'));
  assert.equal(recorder.statusPatches, []);
});

test('orphan deletion keeps the PATs', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current), withBootstrap: true });
  await reconcileServiceAccount(context, deletingWithTokens({ deletionPolicy: 'Orphan' }));
  assert.equal(recorder.calls, ['setFinalizers']);
});

test('release without tenant follows policy and markers', () => {
  const tenant = { name: 'default', reason: 'IscUnavailable' };
  const deleting = (spec: Partial<ServiceAccount['spec']>, status: ServiceAccountStatus = {}) =>
    resource({
      metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
      spec: { ...resource().spec, ...spec },
      status,
    });
  const cases: Array<[string, ServiceAccount, string | undefined]> = [
    ['orphan, owned', deleting({ deletionPolicy: 'Orphan' }, { accountOwned: true }), 'Orphan'],
    [
      'orphan, user levels added',
      deleting(
        { deletionPolicy: 'Orphan' },
        { accountOwned: true, identityId: 'i-1', userLevelsAdded: ['HELPDESK'] },
      ),
      'Orphan',
    ],
    ['observe only', deleting({ managementPolicy: 'ObserveOnly' }), 'ObserveOnly'],
    ['never created', deleting({}), 'never created or adopted'],
    ['never created, marker null', deleting({}, { accountCreateRequestedAt: null }), 'never'],
    ['owned', deleting({}, { accountOwned: true }), undefined],
    [
      'old create request',
      deleting({}, { accountCreateRequestedAt: '2025-01-01T00:00:00Z' }),
      undefined,
    ],
    ['user levels added', deleting({}, { userLevelsAdded: ['HELPDESK'] }), undefined],
    ['PAT minted', deleting({}, { tokens: [{ name: 'reporting', id: 'pat-1' }] }), undefined],
    [
      'bootstrap PAT retiring',
      deleting({}, { bootstrapCredentials: { id: 'boot-2', previousId: 'boot-1' } }),
      undefined,
    ],
  ];
  for (const [name, given, expected] of cases) {
    const message = releaseWithoutTenant(given, tenant);
    if (expected === undefined) {
      assert.is(message, undefined, `${name}: released without ISC`);
      continue;
    }
    assert.match(message ?? '', expected, `${name}: ${message}`);
    assert.match(message ?? '', 'Tenant "default" is not usable (IscUnavailable)', name);
  }
});

test('an identity converged at this generation is not read again after a restart', async () => {
  const converged = (generation: number): ServiceAccount =>
    resource({
      metadata: { ...resource().metadata, generation },
      status: {
        accountOwned: true,
        accountId: 'account-1',
        identityId: 'identity-1',
        invitation: { sentAt: '2026-01-01T00:30:00Z', count: 1 },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Converged',
            message: 'converged',
            lastTransitionTime: '2026-01-01T00:40:00Z',
            observedGeneration: 1,
          },
        ],
      },
    });
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const before = identityReads;
  // Fresh dependencies contain no in-memory record, as after a restart.
  const same = await reconcileServiceAccount(
    deps(recorder, { account: account(current) }),
    converged(1),
  );
  assert.is(same.outcome.kind, 'ready');
  assert.is(identityReads, before, 'status showed this identity converged');
  // A spec change (new generation) verifies the identity again.
  const changed = await reconcileServiceAccount(
    deps(recorder, { account: account(current) }),
    converged(2),
  );
  assert.is(changed.outcome.kind, 'ready');
  assert.is(identityReads, before + 1);
});

/** A batcher stub that records what reconciles hand over. */
function batch(recorder: Recorder, options: { landed?: boolean; settled?: boolean } = {}) {
  return {
    submit: (target: ServiceAccount, claim: boolean) => {
      recorder.calls.push(`submit:${target.spec.accountId}:${claim}`);
      return options.landed ? ('landed' as const) : ('scheduled' as const);
    },
    settled: () => options.settled ?? true,
  };
}

test('csv create marks status and submits', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const { outcome, events } = await reconcileServiceAccount(
    { ...deps(recorder), batch: batch(recorder) },
    resource(),
  );
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'WaitingForUpload');
  assert.equal(recorder.calls, ['findAccount', 'submit:SA-001:true']);
  assert.type(recorder.statusPatches[0]?.accountCreateRequestedAt, 'string');
  assert.equal(
    events.map((event) => event.reason),
    ['CreatingAccount'],
  );
});

test('csv create marks status once', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const requested = resource({ status: { accountCreateRequestedAt: '2026-01-01T00:00:00Z' } });
  const { outcome, events } = await reconcileServiceAccount(
    { ...deps(recorder), batch: batch(recorder, { landed: true }) },
    requested,
  );
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'WaitingForAccount');
  assert.is(recorder.statusPatches.length, 0);
  assert.is(events.length, 0);
});

test('csv update submits instead of calling', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const owned = resource({ status: { accountOwned: true } });
  const { outcome } = await reconcileServiceAccount(
    {
      ...deps(recorder, { account: account({ ...current, purpose: 'old' }) }),
      batch: batch(recorder),
    },
    owned,
  );
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'WaitingForUpload');
  assert.not.ok(recorder.calls.includes('updateAccount'));
  assert.ok(recorder.calls.includes('submit:SA-001:true'));
});

test('csv foreign account is not submitted', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const { outcome } = await reconcileServiceAccount(
    { ...deps(recorder, { account: account(current) }), batch: batch(recorder) },
    resource(),
  );
  assert.is(outcome.kind === 'stalled' && outcome.reason, 'AccountNotOwned');
  assert.not.ok(recorder.calls.some((call) => call.startsWith('submit:')));
});

test('csv deletion submits, never deletes', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const deleting = resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    status: { accountOwned: true },
  });
  const { outcome } = await reconcileServiceAccount(
    { ...deps(recorder, { account: account(current) }), batch: batch(recorder) },
    deleting,
  );
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'DeletingAccount');
  assert.not.ok(recorder.calls.includes('deleteAccount'));
  assert.ok(recorder.calls.includes('submit:SA-001:true'));
  assert.not.ok(recorder.calls.includes('setFinalizers'));
});

test('csv deletion waits for a running upload', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const deleting = resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    status: { accountCreateRequestedAt: '2026-01-01T00:00:00Z' },
  });
  const { outcome } = await reconcileServiceAccount(
    { ...deps(recorder), batch: batch(recorder, { settled: false }) },
    deleting,
  );
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'DeletingAccount');
  assert.not.ok(recorder.calls.includes('setFinalizers'), 'the finalizer was released early');
});

test('csv deletion releases a gone account', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const deleting = resource({
    metadata: { ...resource().metadata, deletionTimestamp: new Date('2026-01-01T00:59:30Z') },
    status: { accountCreateRequestedAt: '2025-01-01T00:00:00Z' },
  });
  await reconcileServiceAccount({ ...deps(recorder), batch: batch(recorder) }, deleting);
  assert.ok(recorder.calls.includes('setFinalizers'));
  assert.not.ok(recorder.calls.some((call) => call.startsWith('submit:')));
});

test('a refused batched invitation is taken back from status and reported', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const refusal = new IscApiError({
    method: 'POST',
    path: '/v2025/identities/invite',
    status: 403,
    detail: { messages: ['missing scope idn:password-user-invite:manage'] },
  });
  const context = deps(recorder, { account: account(current) });
  const queued: string[] = [];
  context.identities = {
    read: (identityId) => ({
      state: 'read',
      identity: {
        id: identityId,
        name: 'audit01',
        identityStatus: 'UNREGISTERED',
        attributes: { email: 'admin@example.com' },
      },
    }),
    account: () => ({ state: 'read', accounts: [account(current)] }),
    invite: (identityId) => queued.push(identityId),
    takeInvitationFailure: () => ({ error: refusal, context: {} }),
  };
  const sent = resource({
    status: {
      accountOwned: true,
      invitation: { sentAt: '2026-01-01T00:59:00.000Z', count: 1 },
    },
  });
  try {
    await reconcileServiceAccount(context, sent);
    assert.unreachable('the refusal is reported');
  } catch (error) {
    assert.is(error, refusal);
  }
  assert.equal(recorder.statusPatches.at(-1)?.invitation, {
    sentAt: null,
    count: null,
    handledResendRequest: null,
  } as unknown as ServiceAccountStatus['invitation']);
  assert.equal(queued, [], 'nothing is queued in the reconcile that reports the refusal');
});

test('an unverified identity waits for the batched read', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder, { account: account(current) });
  context.identities = {
    read: () => ({ state: 'pending' }),
    account: () => ({ state: 'read', accounts: [account(current)] }),
    invite: () => assert.unreachable('no invitation before the identity is read'),
    takeInvitationFailure: () => undefined,
  };
  const before = identityReads;
  const { outcome } = await reconcileServiceAccount(
    context,
    resource({ status: { accountOwned: true } }),
  );
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'WaitingForIdentity');
  assert.is(identityReads, before, 'no single identity read');
});

test('pending bulk lookup defers the reconcile', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder);
  const requested: string[] = [];
  context.identities = {
    read: () => {
      throw new Error('no identity read before the account is known');
    },
    account: (sourceId, nativeIdentity) => {
      requested.push(`${sourceId}/${nativeIdentity}`);
      return { state: 'pending' };
    },
    invite: () => assert.unreachable('no invitation'),
    takeInvitationFailure: () => undefined,
  };
  const { outcome } = await reconcileServiceAccount(context, resource());
  assert.is(outcome.kind, 'deferred');
  assert.equal(requested, ['source-1/SA-001']);
  assert.equal(recorder.calls, [], 'no call to ISC and no write');
  assert.equal(recorder.statusPatches, []);
});

test('bulk lookup miss sends the create', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder);
  context.identities = {
    read: () => {
      throw new Error('no identity read');
    },
    account: () => ({ state: 'read', accounts: [] }),
    invite: () => assert.unreachable('no invitation'),
    takeInvitationFailure: () => undefined,
  };
  const { outcome } = await reconcileServiceAccount(context, resource());
  assert.is(outcome.kind === 'waiting' && outcome.reason, 'CreatingAccount');
  assert.equal(recorder.calls, ['createAccount']);
});

test('bulk lookup with two accounts is ambiguous', async () => {
  const recorder: Recorder = { calls: [], statusPatches: [] };
  const context = deps(recorder);
  context.identities = {
    read: () => {
      throw new Error('no identity read');
    },
    account: () => ({
      state: 'read',
      accounts: [account(current), { ...account(current), id: 'account-2' }],
    }),
    invite: () => assert.unreachable('no invitation'),
    takeInvitationFailure: () => undefined,
  };
  try {
    await reconcileServiceAccount(context, resource());
    assert.unreachable('two accounts are ambiguous');
  } catch (error) {
    assert.instance(error, IscAmbiguousError);
  }
  assert.equal(recorder.calls, []);
});

test.run();

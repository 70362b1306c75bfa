/**
 * The identity-access part of `plan` and `export`: user levels to add, withdraw or keep, tokens
 * to mint, rotate, keep or revoke, and a credential that may not list other identities' tokens.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandIo } from '../../src/cli/command-io.ts';
import { exportAccounts } from '../../src/cli/export.ts';
import { planTokens, planUserLevels, readIdentityAccess } from '../../src/cli/plan-access.ts';
import type { TenantTarget } from '../../src/cli/tenant-connection.ts';
import type { IscApi } from '../../src/isc/api.ts';
import { IscApiError } from '../../src/isc/errors.ts';
import type { PersonalAccessToken } from '../../src/isc/types.ts';
import type { ServiceAccountSpec } from '../../src/kube/types.ts';

const now = new Date('2030-01-01T00:00:00.000Z');
const day = 86_400_000;

function spec(fields: Partial<ServiceAccountSpec>): ServiceAccountSpec {
  return { email: 'svc@example.com', ...fields } as ServiceAccountSpec;
}

function pat(name: string, expiresInDays?: number): PersonalAccessToken {
  const expirationDate =
    expiresInDays === undefined
      ? null
      : new Date(now.getTime() + expiresInDays * day).toISOString();
  return { id: `id-${name}`, name, expirationDate };
}

const token = (name: string) => ({ name, secretName: `secret-${name}`, validForDays: 30 });

test('user levels: add, present, kept', () => {
  const plan = planUserLevels(spec({ userLevel: ['HELPDESK', 'SOURCE_ADMIN'] }), undefined, [
    'HELPDESK',
    'CERT_ADMIN',
  ]);
  assert.equal(plan, {
    add: ['SOURCE_ADMIN'],
    withdraw: [],
    present: ['HELPDESK'],
    kept: ['CERT_ADMIN'],
  });
});

test('user levels: withdraw only with a base', () => {
  const base = spec({ userLevel: ['HELPDESK', 'REPORT_ADMIN'] });
  const plan = planUserLevels(spec({ userLevel: ['HELPDESK'] }), base, [
    'HELPDESK',
    'REPORT_ADMIN',
  ]);
  assert.equal(plan?.withdraw, ['REPORT_ADMIN']);
  assert.equal(plan?.kept, []);
  const withoutBase = planUserLevels(spec({ userLevel: ['HELPDESK'] }), undefined, [
    'HELPDESK',
    'REPORT_ADMIN',
  ]);
  assert.equal(withoutBase?.withdraw, []);
  assert.equal(withoutBase?.kept, ['REPORT_ADMIN']);
});

test('user levels: none requested', () => {
  assert.is(planUserLevels(spec({}), undefined, ['ORG_ADMIN']), undefined);
});

test('user levels: identity without login', () => {
  assert.equal(planUserLevels(spec({ userLevel: ['HELPDESK'] }), undefined, undefined)?.add, [
    'HELPDESK',
  ]);
});

// Each case: name, the PATs in ISC, the expected action and PAT name.
const tokenCases: Array<[string, PersonalAccessToken[], string, string | undefined]> = [
  ['no PAT yet', [pat('other')], 'mint', undefined],
  ['PAT that never expires', [pat('feed')], 'keep', 'feed'],
  ['PAT far from expiry', [pat('feed', 8)], 'keep', 'feed'],
  ['PAT within the lead time', [pat('feed', 7)], 'rotate', 'feed'],
  [
    'rotated PAT is the newest',
    [pat('feed', 1), pat('feed-r2', 60), pat('feed-r1', 2)],
    'keep',
    'feed-r2',
  ],
  ['similar name is not the token', [pat('feed-old'), pat('feedr1')], 'mint', undefined],
];

for (const [name, pats, action, patName] of tokenCases) {
  test(`tokens: ${name}`, () => {
    const [plan] = planTokens(spec({ tokens: [token('feed')] }), undefined, pats, true, now);
    assert.is(plan?.action, action);
    assert.is(plan?.pat?.name, patName);
  });
}

test('tokens: mint before the identity exists', () => {
  const plans = planTokens(spec({ tokens: [token('feed')] }), spec({}), undefined, false, now);
  assert.equal(
    plans.map((plan) => plan.action),
    ['mint'],
  );
});

test('tokens: unknown when PATs cannot be listed', () => {
  const [plan] = planTokens(spec({ tokens: [token('feed')] }), undefined, undefined, true, now);
  assert.is(plan?.action, 'unknown');
});

test('tokens: revoke what the base had', () => {
  const base = spec({ tokens: [token('feed'), token('gone'), token('never-minted')] });
  const plans = planTokens(
    spec({ tokens: [token('feed')] }),
    base,
    [pat('feed'), pat('gone-r1', 30)],
    true,
    now,
  );
  assert.equal(
    plans.map((plan) => [plan.name, plan.action, plan.pat?.name]),
    [
      ['feed', 'keep', 'feed'],
      ['gone', 'revoke', 'gone-r1'],
    ],
  );
});

function forbidden(): never {
  throw new IscApiError({
    status: 403,
    method: 'GET',
    path: '/v2025/personal-access-tokens',
    detail: { messages: ['Forbidden'] },
  });
}

test('token list forbidden becomes a note', async () => {
  const api = {
    getAuthUserCapabilities: async () => ['HELPDESK'],
    listPersonalAccessTokensOf: async () => forbidden(),
  } as unknown as IscApi;
  const access = await readIdentityAccess(api, 'identity-1', { userLevels: true, tokens: true });
  assert.equal(access.capabilities, ['HELPDESK']);
  assert.is(access.tokens, undefined);
  assert.ok(access.notes[0]?.includes('sp:all-personal-access-tokens:read'), access.notes[0]);
});

test('export without the token right warns once', async () => {
  let listed = 0;
  const accounts = ['SA-1', 'SA-2'].map((id) => ({
    id: `isc-${id}`,
    name: id,
    nativeIdentity: id,
    identityId: `identity-${id}`,
    attributes: { id, name: id.toLowerCase(), 'e-mail': `${id}@example.com` },
  }));
  const api = {
    findSourceByName: async () => ({ id: 'source-1', name: 'Service Accounts' }),
    getAccountSchema: async () => ({ attributes: [{ name: 'id' }, { name: 'name' }] }),
    list: async function* () {
      yield* accounts;
    },
    getIdentity: async (id: string) => ({ id, name: id }),
    getAuthUserCapabilities: async () => ['HELPDESK'],
    listPersonalAccessTokensOf: async () => {
      listed++;
      return forbidden();
    },
  } as unknown as IscApi;

  let stderr = '';
  const io: CommandIo = {
    stdout: () => {},
    stderr: (text) => {
      stderr += text;
    },
    stdin: Readable.from(['']),
    env: {},
  };

  const tenant = { baseUrl: 'https://acme.example', sourceName: 'Service Accounts' };
  const manifests = await exportAccounts(
    api,
    tenant as TenantTarget,
    {
      namespace: 'default',
      tenantRef: undefined,
      deletionPolicy: undefined,
      allowedUserLevels: ['HELPDESK'],
    },
    io,
  );

  assert.is(manifests.length, 2);
  assert.is(listed, 1);
  assert.is(stderr.split('sp:all-personal-access-tokens:read').length, 2, stderr);
  assert.ok(manifests[0]?.text.includes('- HELPDESK'), manifests[0]?.text);
  assert.not.ok(manifests[0]?.text.includes('Personal access tokens'));
});

test.run();

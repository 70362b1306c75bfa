import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CallRecord, type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';

// Each test gets a fresh emulator with a short async delay, and must leave no response that
// breaks SailPoint's published contract.

const asyncDelayMs = 30;
const serviceAccountAttributes = ['id', 'name', 'e-mail', 'purpose'];

/** A response with its parsed JSON body, typed by the caller as the fields the test reads. */
interface Response<Body = unknown> {
  status: number;
  headers: Headers;
  body: Body;
}

interface Named {
  id: string;
  name: string;
}

/** ErrorResponseDto, or the small `error` and `message` bodies of 401 and 429. */
interface ErrorBody {
  detailCode: string;
  trackingId: string;
  messages: Array<{ locale: string; localeOrigin: string; text: string }>;
  causes: unknown[];
  error: string;
  message: string;
}

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  identity_id: string;
  /** Set instead of the others when the request is rejected. */
  error?: string;
}

interface SchemaBody extends Named {
  identityAttribute: string;
  displayAttribute: string;
  attributes: Array<{ name: string; type?: string }>;
}

interface SourceBody extends Named {
  type: string;
  connector: string;
  authoritative: boolean;
  description?: string;
  schemas: Named[];
}

interface AccountBody extends Named {
  nativeIdentity: string;
  sourceName: string;
  uncorrelated: boolean;
  identityId?: string;
  identity?: Named & { type: string };
  attributes: Record<string, string | undefined>;
}

interface IdentityBody extends Named {
  alias: string;
  emailAddress: string | null;
  identityStatus: string;
  attributes: Record<string, unknown>;
}

interface ProfileBody extends Named {
  identityRefreshRequired: boolean;
  identityCount: number;
}

interface TaskBody {
  id: string;
  completed: string | null;
  completionStatus: string | null;
  messages: Array<{ localizedText: { message: string } }>;
  attributes: Record<string, unknown>;
}

interface LoadAccountsBody {
  success: boolean;
  task: { id: string };
}

interface PatBody extends Named {
  secret?: string;
  owner: Named;
  expirationDate: string | null;
  scope: string[] | null;
}

interface AuthUserBody {
  uid: string;
  capabilities: string[];
}

interface Context {
  emulator: RunningEmulator;
  token: string;
}

const context = {} as Context;

async function send<Body = unknown>(
  method: string,
  path: string,
  options: { body?: unknown; contentType?: string; token?: string | null } = {},
): Promise<Response<Body>> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? context.token : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${context.emulator.url}${path}`, {
    method,
    headers,
    body: payload,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as Body,
  };
}

async function requestToken(clientId: string, clientSecret: string): Promise<Response<TokenBody>> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  });
  return send<TokenBody>('POST', '/oauth/token', {
    body: form.toString(),
    contentType: 'application/x-www-form-urlencoded',
    token: null,
  });
}

function filterQuery(filter: string): string {
  return `filters=${encodeURIComponent(filter)}`;
}

/** Polls `probe` until it returns a value other than undefined, or fails after two seconds. */
async function eventually<T>(description: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${description}`);
}

async function createSource(name = 'Service Accounts'): Promise<SourceBody> {
  const response = await send<SourceBody>('POST', '/v2025/sources?provisionAsCsv=true', {
    body: {
      name,
      owner: { type: 'IDENTITY', id: context.emulator.adminIdentityId },
      connector: 'delimited-file-angularsc',
    },
  });
  assert.is(response.status, 201);
  return response.body;
}

/** Replaces the account schema with the service-account attributes: id, name, e-mail, purpose. */
async function useServiceAccountSchema(sourceId: string): Promise<SchemaBody> {
  const schemas = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${sourceId}/schemas?include-names=account`,
  );
  const schema = schemas.body[0]!;
  const replaced = await send<SchemaBody>(
    'PUT',
    `/v2025/sources/${sourceId}/schemas/${schema.id}`,
    {
      body: {
        ...schema,
        attributes: serviceAccountAttributes.map((name) => ({
          name,
          type: 'STRING',
          isMulti: false,
          isEntitlement: false,
          isGroup: false,
        })),
      },
    },
  );
  assert.is(replaced.status, 200);
  return replaced.body;
}

async function findAccount(
  sourceId: string,
  nativeIdentity: string,
): Promise<AccountBody | undefined> {
  const filter = `sourceId eq "${sourceId}" and nativeIdentity eq "${nativeIdentity}"`;
  const response = await send<AccountBody[]>('GET', `/v2025/accounts?${filterQuery(filter)}`);
  assert.is(response.status, 200);
  return response.body[0];
}

async function createAccount(sourceId: string, id: string, name: string): Promise<AccountBody> {
  const response = await send('POST', '/v2025/accounts', {
    body: {
      attributes: { sourceId, id, name, 'e-mail': `${name}@example.com`, purpose: 'testing' },
    },
  });
  assert.is(response.status, 202);
  return eventually(`account ${id}`, () => findAccount(sourceId, id));
}

function mapping(identityAttributeName: string, attributeName: string, source: SourceBody) {
  return {
    identityAttributeName,
    transformDefinition: {
      type: 'accountAttribute',
      attributes: { sourceName: source.name, attributeName, sourceId: source.id },
    },
  };
}

async function uploadAccounts(sourceId: string, csv: string): Promise<Response<LoadAccountsBody>> {
  const form = new FormData();
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'accounts.csv');
  form.append('disableOptimization', 'false');
  const response = await fetch(`${context.emulator.url}/v2025/sources/${sourceId}/load-accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${context.token}` },
    body: form,
  });
  const body = (await response.json()) as LoadAccountsBody;
  return { status: response.status, headers: response.headers, body };
}

async function finishedTask(taskId: string): Promise<TaskBody> {
  return eventually(`task ${taskId}`, async () => {
    const task = await send<TaskBody>('GET', `/v2025/task-status/${taskId}`);
    return task.body.completed ? task.body : undefined;
  });
}

/** Replaces the test's emulator with one started with `options`, and takes a new token. */
async function restartEmulator(options: Parameters<typeof startEmulator>[0]): Promise<void> {
  await context.emulator.close();
  context.emulator = await startEmulator(options);
  const client = context.emulator.clients[0]!;
  context.token = (await requestToken(client.clientId, client.clientSecret)).body.access_token;
}

test.before.each(async () => {
  context.emulator = await startEmulator({ asyncDelayMs });
  const client = context.emulator.clients[0]!;
  const token = await requestToken(client.clientId, client.clientSecret);
  context.token = token.body.access_token;
});

test.after.each(async () => {
  const violations = context.emulator.contractViolations;
  await context.emulator.close();
  assert.equal(violations, [], 'the emulator sent responses that break the ISC contract');
});

test('token request returns a bearer token', async () => {
  const client = context.emulator.clients[0]!;
  const response = await requestToken(client.clientId, client.clientSecret);
  assert.is(response.status, 200);
  assert.is(response.body.token_type, 'bearer');
  assert.is(response.body.expires_in, 43200);
  assert.is(response.body.identity_id, context.emulator.adminIdentityId);
  assert.type(response.body.access_token, 'string');
  assert.is(
    (await send('GET', '/v2025/sources', { token: response.body.access_token })).status,
    200,
  );
});

test('token request takes query parameters', async () => {
  const client = context.emulator.clients[0]!;
  const query = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  const response = await send<TokenBody>('POST', `/oauth/token?${query}`, { token: null });
  assert.is(response.status, 200);
  const logged = JSON.stringify(context.emulator.calls);
  assert.not.ok(logged.includes(client.clientSecret), 'the call log contains the client secret');
  assert.not.ok(logged.includes(response.body.access_token), 'the call log contains the token');
});

test('token request with wrong secret is 401', async () => {
  const response = await requestToken(context.emulator.clients[0]!.clientId, 'wrong');
  assert.is(response.status, 401);
  assert.type(response.body.error, 'string');
});

test('missing or forged token is 401', async () => {
  const missing = await send<ErrorBody>('GET', '/v2025/sources', { token: null });
  assert.is(missing.status, 401);
  assert.match(missing.body.error, /^JWT validation failed: /);
  const forged = await send<ErrorBody>('GET', '/v2025/sources', {
    token: `${context.token.slice(0, -4)}AAAA`,
  });
  assert.is(forged.status, 401);
  assert.match(forged.body.error, /^JWT validation failed: /);
});

test('copied account attributes create an account', async () => {
  const created = await createSource();
  await useServiceAccountSchema(created.id);
  await createAccount(created.id, 'SA-001', 'audit01');

  const sources = await send<SourceBody[]>(
    'GET',
    `/v2025/sources?${filterQuery('name eq "Service Accounts"')}`,
  );
  assert.is(sources.status, 200);
  assert.is(sources.body.length, 1);
  const sourceId = sources.body[0]!.id;

  const accounts = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${filterQuery(`sourceId eq "${sourceId}"`)}`,
  );
  assert.is(accounts.status, 200);
  assert.is(accounts.body.length, 1);
  const attributes = { ...accounts.body[0]!.attributes };
  assert.type(attributes.idNowDescription, 'string');

  delete attributes.idNowDescription;
  const body = { attributes: { ...attributes, sourceId, id: 'SA-002', name: 'audit02' } };
  const response = await send<Named>('POST', '/v2025/accounts', { body });
  assert.is(response.status, 202);
  assert.type(response.body.id, 'string');

  const account = await eventually('account SA-002', () => findAccount(sourceId, 'SA-002'));
  assert.is(account.name, 'audit02');
  assert.is(account.attributes['e-mail'], 'audit01@example.com');
});

test('account create rejects unknown attribute', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const response = await send<ErrorBody>('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, id: 'SA-001', idNowDescription: 'abc' } },
  });
  assert.is(response.status, 400);
  assert.match(response.body.messages[0]?.text ?? '', 'idNowDescription');
});

test('account create without identity attribute is 400', async () => {
  const source = await createSource();
  const response = await send<ErrorBody>('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, name: 'audit01' } },
  });
  assert.is(response.status, 400);
  assert.match(response.body.messages[0]?.text ?? '', '"id"');
});

test('new source has default schemas', async () => {
  const source = await createSource();
  assert.is(source.type, 'DelimitedFile');
  assert.is(source.connector, 'delimited-file-angularsc');
  assert.is(source.authoritative, false);
  assert.equal(
    source.schemas.map((schema) => schema.name),
    ['account', 'group'],
  );

  const schemas = await send<SchemaBody[]>('GET', `/v2025/sources/${source.id}/schemas`);
  assert.is(schemas.status, 200);
  const account = schemas.body.find((schema) => schema.name === 'account')!;
  assert.is(account.identityAttribute, 'id');
  assert.is(account.displayAttribute, 'name');
  assert.equal(
    account.attributes.map((attribute) => attribute.name),
    [
      'id',
      'name',
      'givenName',
      'familyName',
      'e-mail',
      'location',
      'manager',
      'groups',
      'startDate',
      'endDate',
    ],
  );
  assert.ok(account.attributes.every((attribute) => attribute.type === 'STRING'));

  const onlyAccount = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${source.id}/schemas?include-names=account`,
  );
  assert.equal(
    onlyAccount.body.map((schema) => schema.name),
    ['account'],
  );
});

test('schema PUT replaces the schema', async () => {
  const source = await createSource();
  const replaced = await useServiceAccountSchema(source.id);
  assert.equal(
    replaced.attributes.map((attribute) => attribute.name),
    serviceAccountAttributes,
  );

  const fetched = await send<SchemaBody>(
    'GET',
    `/v2025/sources/${source.id}/schemas/${replaced.id}`,
  );
  assert.equal(
    fetched.body.attributes.map((attribute) => attribute.name),
    serviceAccountAttributes,
  );

  const { id: _id, ...withoutId } = replaced;
  const missingId = await send('PUT', `/v2025/sources/${source.id}/schemas/${replaced.id}`, {
    body: withoutId,
  });
  assert.is(missingId.status, 400);
  const renamed = await send('PUT', `/v2025/sources/${source.id}/schemas/${replaced.id}`, {
    body: { ...replaced, name: 'other' },
  });
  assert.is(renamed.status, 400);
});

test('schema PATCH adds an attribute', async () => {
  const source = await createSource();
  const schemas = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${source.id}/schemas?include-names=account`,
  );
  const schemaId = schemas.body[0]!.id;
  const response = await send<SchemaBody>(
    'PATCH',
    `/v2025/sources/${source.id}/schemas/${schemaId}`,
    {
      body: [{ op: 'add', path: '/attributes/-', value: { name: 'purpose', type: 'STRING' } }],
      contentType: 'application/json-patch+json',
    },
  );
  assert.is(response.status, 200);
  assert.is(response.body.attributes.at(-1)?.name, 'purpose');
});

test('PATCH with JSON content type is 415', async () => {
  const source = await createSource();
  const schemas = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${source.id}/schemas?include-names=account`,
  );
  const patch = [{ op: 'add', path: '/attributes/-', value: { name: 'purpose', type: 'STRING' } }];
  const schemaPatch = await send(
    'PATCH',
    `/v2025/sources/${source.id}/schemas/${schemas.body[0]!.id}`,
    {
      body: patch,
    },
  );
  assert.is(schemaPatch.status, 415);

  const profile = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: { name: 'Service Accounts', authoritativeSource: { type: 'SOURCE', id: source.id } },
  });
  const profilePatch = await send('PATCH', `/v2025/identity-profiles/${profile.body.id}`, {
    body: [{ op: 'replace', path: '/description', value: 'x' }],
  });
  assert.is(profilePatch.status, 415);
});

test('invalid body is 400 with ISC error shape', async () => {
  const response = await send<ErrorBody>('POST', '/v2025/sources?provisionAsCsv=true', {
    body: { name: 'Service Accounts', connector: 'delimited-file-angularsc' },
  });
  assert.is(response.status, 400);
  assert.equal(Object.keys(response.body).sort(), [
    'causes',
    'detailCode',
    'messages',
    'trackingId',
  ]);
  assert.is(response.body.detailCode, '400.1 Bad Request Content');
  assert.type(response.body.trackingId, 'string');
  assert.equal(response.body.causes, []);
  assert.is(response.body.messages[0]?.locale, 'en-US');
  assert.is(response.body.messages[0]?.localeOrigin, 'DEFAULT');
  assert.match(response.body.messages[0]?.text ?? '', 'owner');

  const malformed = await send<ErrorBody>('POST', '/v2025/accounts', { body: '{"attributes":' });
  assert.is(malformed.status, 400);
  assert.is(malformed.body.detailCode, '400.1 Bad Request Content');
});

test('account appears after the async delay', async () => {
  // A longer delay keeps the first lookup ahead of the task on a slow machine.
  await restartEmulator({ asyncDelayMs: 500 });
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const response = await send<Named>('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, id: 'SA-001', name: 'audit01' } },
  });
  assert.is(response.status, 202);
  assert.is(await findAccount(source.id, 'SA-001'), undefined);

  const account = await eventually('account SA-001', () => findAccount(source.id, 'SA-001'));
  assert.is(account.nativeIdentity, 'SA-001');
  assert.is(account.name, 'audit01');
  assert.is(account.sourceName, 'Service Accounts');
  assert.is(account.uncorrelated, true);
  const fetched = await send<AccountBody>('GET', `/v2025/accounts/${account.id}`);
  assert.is(fetched.status, 200);
  assert.is(fetched.body.id, account.id);

  const task = await send<TaskBody>('GET', `/v2025/task-status/${response.body.id}`);
  assert.is(task.status, 200);
  assert.is(task.body.completionStatus, 'SUCCESS');
});

test('account create with existing id updates', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');
  const response = await send('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, id: 'SA-001', purpose: 'changed' } },
  });
  assert.is(response.status, 202);
  const updated = await eventually('purpose update', async () => {
    const current = await findAccount(source.id, 'SA-001');
    return current?.attributes.purpose === 'changed' ? current : undefined;
  });
  assert.is(updated.id, account.id);
  assert.is(updated.name, 'audit01');
});

test('account PUT and DELETE are asynchronous', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');

  const put = await send('PUT', `/v2025/accounts/${account.id}`, {
    body: { attributes: { id: 'SA-001', name: 'audit01', purpose: 'replaced' } },
  });
  assert.is(put.status, 202);
  await eventually('PUT result', async () => {
    const current = await findAccount(source.id, 'SA-001');
    return current?.attributes.purpose === 'replaced' && current.attributes['e-mail'] === undefined
      ? current
      : undefined;
  });

  const removed = await send<Named>('DELETE', `/v2025/accounts/${account.id}`);
  assert.is(removed.status, 202);
  assert.type(removed.body.id, 'string');
  await eventually('account removal', async () =>
    (await send('GET', `/v2025/accounts/${account.id}`)).status === 404 ? true : undefined,
  );
});

test('process-identities builds identities from mappings', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');

  const created = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: {
      name: 'Service Accounts',
      authoritativeSource: { type: 'SOURCE', id: source.id, name: source.name },
      identityAttributeConfig: {
        enabled: true,
        attributeTransforms: [
          mapping('uid', 'name', source),
          mapping('email', 'e-mail', source),
          mapping('lastname', 'name', source),
          mapping('firstname', 'name', source),
        ],
      },
    },
  });
  assert.is(created.status, 201);
  const profileId = created.body.id;
  assert.is(
    (await send<SourceBody>('GET', `/v2025/sources/${source.id}`)).body.authoritative,
    true,
  );

  const processed = await send('POST', `/v2025/identity-profiles/${profileId}/process-identities`);
  assert.is(processed.status, 202);

  const identity = await eventually('identity audit01', async () => {
    const response = await send<IdentityBody[]>(
      'GET',
      `/v2025/identities?${filterQuery('alias eq "audit01"')}`,
    );
    return response.body[0];
  });
  assert.is(identity.name, 'audit01');
  assert.is(identity.emailAddress, 'audit01@example.com');
  assert.is(identity.identityStatus, 'UNREGISTERED');
  assert.is(identity.attributes.uid, 'audit01');
  assert.is(identity.attributes.email, 'audit01@example.com');
  assert.is(identity.attributes.firstname, 'audit01');
  assert.is(identity.attributes.lastname, 'audit01');
  assert.is(identity.attributes.cloudStatus, 'UNREGISTERED');

  const correlated = (await send<AccountBody>('GET', `/v2025/accounts/${account.id}`)).body;
  assert.is(correlated.identityId, identity.id);
  assert.equal(correlated.identity, { id: identity.id, type: 'IDENTITY', name: 'audit01' });
  assert.is(correlated.uncorrelated, false);

  const profile = (await send<ProfileBody>('GET', `/v2025/identity-profiles/${profileId}`)).body;
  assert.is(profile.identityRefreshRequired, false);
  assert.is(profile.identityCount, 1);

  const patched = await send<ProfileBody>('PATCH', `/v2025/identity-profiles/${profileId}`, {
    body: [
      {
        op: 'add',
        path: '/identityAttributeConfig/attributeTransforms/-',
        value: mapping('displayName', 'purpose', source),
      },
    ],
    contentType: 'application/json-patch+json',
  });
  assert.is(patched.status, 200);
  assert.is(patched.body.identityRefreshRequired, true);
});

test('identity profile delete clears authoritative', async () => {
  const source = await createSource();
  const created = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: { name: 'Service Accounts', authoritativeSource: { type: 'SOURCE', id: source.id } },
  });
  const removed = await send('DELETE', `/v2025/identity-profiles/${created.body.id}`);
  assert.is(removed.status, 202);
  await eventually('source no longer authoritative', async () => {
    const current = await send<SourceBody>('GET', `/v2025/sources/${source.id}`);
    return current.body.authoritative === false ? true : undefined;
  });
  const gone = await send('GET', `/v2025/identity-profiles/${created.body.id}`);
  assert.is(gone.status, 404);
});

test('seeded admin identity is listed', async () => {
  const adminId = context.emulator.adminIdentityId;
  const listed = await send<IdentityBody[]>(
    'GET',
    `/v2025/identities?${filterQuery(`id eq "${adminId}"`)}`,
  );
  assert.is(listed.status, 200);
  assert.is(listed.body.length, 1);
  const fetched = await send<IdentityBody>('GET', `/v2025/identities/${adminId}`);
  assert.is(fetched.body.alias, 'admin');
});

test('accounts paginate across three pages', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  for (let index = 1; index <= 7; index++) {
    const body = {
      attributes: { sourceId: source.id, id: `SA-00${index}`, name: `audit0${index}` },
    };
    assert.is((await send('POST', '/v2025/accounts', { body })).status, 202);
  }
  const sourceFilter = filterQuery(`sourceId eq "${source.id}"`);
  await eventually('seven accounts', async () => {
    const response = await send<AccountBody[]>('GET', `/v2025/accounts?${sourceFilter}`);
    return response.body.length === 7 ? true : undefined;
  });

  const seen: string[] = [];
  const sizes: number[] = [];
  for (const offset of [0, 3, 6]) {
    const page = await send<AccountBody[]>(
      'GET',
      `/v2025/accounts?${sourceFilter}&limit=3&offset=${offset}&count=true&sorters=name`,
    );
    assert.is(page.status, 200);
    assert.is(page.headers.get('x-total-count'), '7');
    sizes.push(page.body.length);
    seen.push(...page.body.map((account) => account.name));
  }
  assert.equal(sizes, [3, 3, 1]);
  assert.equal(seen, ['audit01', 'audit02', 'audit03', 'audit04', 'audit05', 'audit06', 'audit07']);

  const descending = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${sourceFilter}&limit=1&sorters=-name`,
  );
  assert.is(descending.body[0]?.name, 'audit07');
  const noCount = await send('GET', `/v2025/accounts?${sourceFilter}&limit=3`);
  assert.is(noCount.headers.get('x-total-count'), null);
  const tooLarge = await send('GET', '/v2025/accounts?limit=251');
  assert.is(tooLarge.status, 400);
});

test('unsupported filter or sorter is 400', async () => {
  const unsupported = await send<ErrorBody>(
    'GET',
    `/v2025/accounts?${filterQuery('purpose eq "x"')}`,
  );
  assert.is(unsupported.status, 400);
  assert.match(unsupported.body.messages[0]?.text ?? '', 'purpose');
  const malformed = await send('GET', `/v2025/accounts?${filterQuery('sourceId EQ "x"')}`);
  assert.is(malformed.status, 400);
  const sorter = await send('GET', '/v2025/sources?sorters=purpose');
  assert.is(sorter.status, 400);
});

test('per-service paths reach the same data', async () => {
  const source = await createSource();
  const listed = await send<SourceBody[]>('GET', '/sources/v1');
  assert.is(listed.status, 200);
  assert.is(listed.body[0]?.id, source.id);
  const fetched = await send<SourceBody>('GET', `/sources/v1/${source.id}`);
  assert.is(fetched.body.name, 'Service Accounts');
  assert.is((await send('GET', '/v3/sources')).status, 404);
});

test('admin endpoints expose calls and state', async () => {
  await createSource();
  const calls = (await fetch(`${context.emulator.url}/__admin/calls`).then((r) =>
    r.json(),
  )) as CallRecord[];
  assert.ok(calls.some((call) => call.path === '/v2025/sources' && call.status === 201));
  assert.is(calls.at(-1)?.clientId, context.emulator.clients[0]!.clientId);
  const state = (await fetch(`${context.emulator.url}/__admin/state`).then((r) => r.json())) as {
    sources: SourceBody[];
  };
  assert.is(state.sources.length, 1);
  const cleared = await fetch(`${context.emulator.url}/__admin/calls`, { method: 'DELETE' });
  assert.is(cleared.status, 204);
  assert.is(context.emulator.calls.length, 0);
});

test('source PUT keeps immutable fields', async () => {
  const source = await createSource();
  const renamed = await send<SourceBody>('PUT', `/v2025/sources/${source.id}`, {
    body: { ...source, description: 'Service accounts managed by the operator' },
  });
  assert.is(renamed.status, 200);
  assert.is(renamed.body.description, 'Service accounts managed by the operator');
  const changed = await send<ErrorBody>('PUT', `/v2025/sources/${source.id}`, {
    body: { ...source, connector: 'active-directory' },
  });
  assert.is(changed.status, 400);
  assert.is(changed.body.detailCode, '400.1.1 Illegal update attempt');
});

test('account schema downloads as CSV', async () => {
  const source = await createSource();
  const response = await fetch(
    `${context.emulator.url}/v2025/sources/${source.id}/schemas/accounts`,
    {
      headers: { authorization: `Bearer ${context.token}` },
    },
  );
  assert.is(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/csv/);
  assert.is(
    await response.text(),
    'id,name,givenName,familyName,e-mail,location,manager,groups,startDate,endDate\n',
  );
});

test('load-accounts aggregates a CSV file', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const csv = [
    'id,name,e-mail,purpose,unknownColumn',
    'SA-001,audit01,audit01@example.com,"Monthly audit, report",x',
    'SA-002,audit02,audit02@example.com,"Says ""hi""",y',
    ',no-id,,,',
  ].join('\n');
  const upload = await uploadAccounts(source.id, csv);
  assert.is(upload.status, 202);
  assert.is(upload.body.success, true);
  const task = await finishedTask(upload.body.task.id);
  assert.is(task.completionStatus, 'SUCCESS');
  assert.is(task.attributes.created, 2);
  assert.is(task.attributes.ignored, 1);

  const first = await findAccount(source.id, 'SA-001');
  assert.is(first?.attributes.purpose, 'Monthly audit, report');
  assert.is(first?.attributes.unknownColumn, undefined);
  const second = await findAccount(source.id, 'SA-002');
  assert.is(second?.attributes.purpose, 'Says "hi"');
});

test('load-accounts removes missing rows', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  await send('PUT', `/v2025/sources/${source.id}`, { body: { ...source, deleteThreshold: 50 } });
  const header = 'id,name,e-mail,purpose';
  const first = await uploadAccounts(source.id, `${header}\nSA-001,audit01,,\nSA-002,audit02,,\n`);
  await finishedTask(first.body.task.id);

  const second = await uploadAccounts(source.id, `${header}\nSA-001,audit01,,changed\n`);
  const task = await finishedTask(second.body.task.id);
  assert.is(task.completionStatus, 'SUCCESS');
  assert.is(task.attributes.updated, 1);
  assert.is(task.attributes.deleted, 1);
  assert.is(await findAccount(source.id, 'SA-002'), undefined);
});

test('load-accounts applies delete threshold', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const header = 'id,name,e-mail,purpose';
  const first = await uploadAccounts(source.id, `${header}\nSA-001,audit01,,\nSA-002,audit02,,\n`);
  await finishedTask(first.body.task.id);

  const emptied = await uploadAccounts(source.id, `${header}\n`);
  const task = await finishedTask(emptied.body.task.id);
  assert.is(task.completionStatus, 'WARNING');
  assert.match(task.messages[0]?.localizedText.message ?? '', 'delete threshold');
  assert.ok(await findAccount(source.id, 'SA-002'), 'the delete phase removed an account');
});

test('concurrent load-accounts fails second task', async () => {
  // A longer delay keeps the second upload ahead of the first task on a slow machine.
  await restartEmulator({ asyncDelayMs: 500 });
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const csv = 'id,name,e-mail,purpose\nSA-001,audit01,,\n';
  const first = await uploadAccounts(source.id, csv);
  const second = await uploadAccounts(source.id, csv);
  assert.is(second.status, 202);
  assert.is((await finishedTask(first.body.task.id)).completionStatus, 'SUCCESS');
  const failed = await finishedTask(second.body.task.id);
  assert.is(failed.completionStatus, 'ERROR');
  assert.match(failed.messages[0]?.localizedText.message ?? '', 'currently running aggregation');
});

test('rate limit sends 429 with Retry-After', async () => {
  await restartEmulator({ asyncDelayMs, rateLimit: { requests: 3, windowMs: 10_000 } });
  for (let index = 0; index < 3; index++) {
    assert.is((await send('GET', '/v2025/sources')).status, 200);
  }
  const limited = await send<ErrorBody>('GET', '/v2025/sources');
  assert.is(limited.status, 429);
  assert.is(limited.body.message, ' Rate Limit Exceeded ');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1, 'Retry-After is missing');
  // Each API version family has its own budget.
  assert.is((await send('GET', '/sources/v1')).status, 200);
});

/** Creates a service-account identity through the source, profile and processing steps. */
async function createServiceAccountIdentity(): Promise<IdentityBody> {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  await createAccount(source.id, 'SA-001', 'audit01');
  const profile = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: {
      name: 'Service Accounts',
      authoritativeSource: { type: 'SOURCE', id: source.id },
      identityAttributeConfig: {
        enabled: true,
        attributeTransforms: [mapping('uid', 'name', source), mapping('email', 'e-mail', source)],
      },
    },
  });
  await send('POST', `/v2025/identity-profiles/${profile.body.id}/process-identities`);
  return eventually('identity audit01', async () => {
    const response = await send<IdentityBody[]>(
      'GET',
      `/v2025/identities?${filterQuery('alias eq "audit01"')}`,
    );
    return response.body[0];
  });
}

test('personal access token works at once', async () => {
  const created = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'ci', userAwareTokenNeverExpires: true, accessTokenValiditySeconds: 600 },
  });
  assert.is(created.status, 200);
  assert.type(created.body.secret, 'string');
  assert.is(created.body.owner.id, context.emulator.adminIdentityId);
  assert.is(created.body.expirationDate, null);

  const token = await requestToken(created.body.id, created.body.secret!);
  assert.is(token.status, 200);
  assert.is(token.body.expires_in, 600);
  assert.is(token.body.identity_id, context.emulator.adminIdentityId);

  const listed = await send<PatBody[]>('GET', '/v2025/personal-access-tokens?owner-id=me');
  assert.ok(listed.body.some((entry) => entry.id === created.body.id));
  assert.ok(
    listed.body.every((entry) => entry.secret === undefined),
    'the list shows secrets',
  );

  const removed = await send('DELETE', `/v2025/personal-access-tokens/${created.body.id}`);
  assert.is(removed.status, 204);
  assert.is((await requestToken(created.body.id, created.body.secret!)).status, 401);
});

test('personal access token rules', async () => {
  const neverExpiring = await send('POST', '/v2025/personal-access-tokens', {
    body: { name: 'a' },
  });
  assert.is(neverExpiring.status, 400);
  const past = await send('POST', '/v2025/personal-access-tokens', {
    body: { name: 'b', expirationDate: '2020-01-01T00:00:00Z' },
  });
  assert.is(past.status, 400);
  const tooShort = await send<ErrorBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'c', userAwareTokenNeverExpires: true, accessTokenValiditySeconds: 5 },
  });
  assert.is(tooShort.status, 400);
  assert.match(tooShort.body.messages[0]?.text ?? '', 'accessTokenValiditySeconds');

  const body = { name: 'dup', userAwareTokenNeverExpires: true };
  assert.is((await send('POST', '/v2025/personal-access-tokens', { body })).status, 200);
  assert.is((await send('POST', '/v2025/personal-access-tokens', { body })).status, 400);
  // The seeded credential and "dup" count too, so eight more reach the limit of ten.
  for (let index = 0; index < 8; index++) {
    const next = { name: `pat-${index}`, userAwareTokenNeverExpires: true };
    assert.is((await send('POST', '/v2025/personal-access-tokens', { body: next })).status, 200);
  }
  const eleventh = await send('POST', '/v2025/personal-access-tokens', {
    body: { name: 'eleventh', userAwareTokenNeverExpires: true },
  });
  assert.is(eleventh.status, 400);
});

test('personal access token PATCH', async () => {
  const created = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'ci', userAwareTokenNeverExpires: true },
  });
  const renamed = await send<PatBody>('PATCH', `/v2025/personal-access-tokens/${created.body.id}`, {
    body: [{ op: 'replace', path: '/name', value: 'ci-renamed' }],
    contentType: 'application/json-patch+json',
  });
  assert.is(renamed.status, 200);
  assert.is(renamed.body.name, 'ci-renamed');
  const owner = await send('PATCH', `/v2025/personal-access-tokens/${created.body.id}`, {
    body: [{ op: 'replace', path: '/owner', value: { id: 'x' } }],
    contentType: 'application/json-patch+json',
  });
  assert.is(owner.status, 400);
});

test('service account mints its own token', async () => {
  const identity = await createServiceAccountIdentity();
  const user = await send<AuthUserBody>('GET', `/v2025/auth-users/${identity.id}`);
  assert.is(user.status, 200);
  assert.equal(user.body.capabilities, []);
  assert.is(user.body.uid, 'audit01');

  const raised = await send<AuthUserBody>('PATCH', `/v2025/auth-users/${identity.id}`, {
    body: [{ op: 'replace', path: '/capabilities', value: ['SOURCE_ADMIN'] }],
    contentType: 'application/json-patch+json',
  });
  assert.is(raised.status, 200);
  assert.equal(raised.body.capabilities, ['SOURCE_ADMIN']);
  const illegal = await send<ErrorBody>('PATCH', `/v2025/auth-users/${identity.id}`, {
    body: [{ op: 'replace', path: '/email', value: 'x@example.com' }],
    contentType: 'application/json-patch+json',
  });
  assert.is(illegal.status, 400);
  assert.is(illegal.body.detailCode, '400.1.1 Illegal update attempt');

  // The service account's first PAT, created as its user would after logging in.
  const ownerId = identity.id;
  const bootstrap = (await fetch(
    `${context.emulator.url}/__admin/identities/${ownerId}/personal-access-tokens?name=bootstrap`,
    { method: 'POST' },
  ).then((r) => r.json())) as { id: string; secret: string };
  const token = await requestToken(bootstrap.id, bootstrap.secret);
  assert.is(token.status, 200);
  assert.is(token.body.identity_id, ownerId);
  context.token = token.body.access_token;
  const minted = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'automation', scope: ['idn:accounts:read'], userAwareTokenNeverExpires: true },
  });
  assert.is(minted.status, 200);
  assert.is(minted.body.owner.id, ownerId);
  assert.equal(minted.body.scope, ['idn:accounts:read']);
});

test('invite needs experimental header', async () => {
  const identity = await createServiceAccountIdentity();
  const withoutHeader = await send('POST', '/v2025/identities/invite', {
    body: { ids: [identity.id], uninvited: false },
  });
  assert.is(withoutHeader.status, 400);

  const response = await fetch(`${context.emulator.url}/v2025/identities/invite`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${context.token}`,
      'content-type': 'application/json',
      'x-sailpoint-experimental': 'true',
    },
    body: JSON.stringify({ ids: [identity.id], uninvited: false }),
  });
  assert.is(response.status, 202);
  const task = (await response.json()) as Named;
  assert.is((await finishedTask(task.id)).completionStatus, 'SUCCESS');
  const state = (await fetch(`${context.emulator.url}/__admin/state`).then((r) => r.json())) as {
    identities: Array<{ identity: Named; invitedAt: string | null }>;
  };
  const record = state.identities.find((entry) => entry.identity.id === identity.id);
  assert.type(record?.invitedAt, 'string');

  const registered = await fetch(
    `${context.emulator.url}/__admin/identities/${identity.id}/register`,
    { method: 'POST' },
  );
  assert.is(registered.status, 204);
  const fetched = await send<IdentityBody>('GET', `/v2025/identities/${identity.id}`);
  assert.is(fetched.body.identityStatus, 'ACTIVE');
});

test.run();
